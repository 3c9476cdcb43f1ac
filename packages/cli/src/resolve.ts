import { type ApiClient, ApiError } from "./client.js";
import type { NodeInfo, Vps } from "./types.js";

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;

export function isUuid(s: string): boolean {
  return UUID.test(s);
}

/**
 * People type names, the API wants ids: a VPS argument may be either. A name is looked up in the
 * caller's own VPSes (the API's ?name= filter), so a tenant still never sees another project's.
 */
export async function vpsId(api: ApiClient, ref: string): Promise<string> {
  if (isUuid(ref)) return ref;
  const page = await api.get<{ items: Vps[] }>("/v1/vps", { name: ref, limit: 2 });
  if (page.items.length === 0) throw new ApiError(404, "VPS_NOT_FOUND", `no VPS named '${ref}'`);
  if (page.items.length > 1) {
    throw new ApiError(409, "AMBIGUOUS", `more than one VPS is named '${ref}' (one per project): use its id`);
  }
  return page.items[0]!.id;
}

/** A node by id or name (operators). The node list has no name filter, so we scan it. */
export async function nodeId(api: ApiClient, ref: string): Promise<string> {
  if (isUuid(ref)) return ref;
  const all = await api.all<NodeInfo>("/v1/nodes");
  const n = all.items.find((x) => x.name === ref);
  if (!n) throw new ApiError(404, "NODE_NOT_FOUND", `no node named '${ref}'`);
  return n.id;
}

/** Node names by id, to show names instead of UUIDs in tables; empty for tenants (not allowed). */
export async function nodeNames(api: ApiClient): Promise<Map<string, string>> {
  // Tenant tokens may not list nodes: spare the request that would only be refused.
  if (api.token?.startsWith("skiff_tn_")) return new Map();
  try {
    const all = await api.all<NodeInfo>("/v1/nodes");
    return new Map(all.items.map((n) => [n.id, n.name]));
  } catch (err) {
    if (err instanceof ApiError && (err.status === 403 || err.status === 404)) return new Map();
    throw err;
  }
}

/**
 * VPS names by id, for the ids one table shows (a deleted VPS still answers GET). Ids already in
 * `known` are not asked again; one that cannot be read stays out (the table shows its short id).
 */
export async function vpsNames(
  api: ApiClient,
  ids: Iterable<string>,
  known: Map<string, string> = new Map(),
): Promise<Map<string, string>> {
  const missing = [...new Set(ids)].filter((id) => !known.has(id) && isUuid(id)).slice(0, 100);
  const found = await Promise.all(
    missing.map((id) =>
      api.get<Vps>(`/v1/vps/${id}`).then(
        (v) => [id, v.name] as const,
        () => undefined,
      ),
    ),
  );
  for (const f of found) if (f) known.set(f[0], f[1]);
  return known;
}
