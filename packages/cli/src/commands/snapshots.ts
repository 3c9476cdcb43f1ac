/** `skiff vps snapshot|restore-snapshot` and `skiff snapshots list|delete`: user disk snapshots. */
import { positionals, stringOpt } from "../args.js";
import { ApiError } from "../client.js";
import { type Command, emit } from "../command.js";
import { formatAge, formatBytes, table } from "../format.js";
import { vpsId } from "../resolve.js";
import type { Snapshot, Vps } from "../types.js";
import { idempotencyKey, MUTATE_OPTIONS, WAIT_OPTIONS, waitFor } from "./common.js";
import { finish } from "./vps.js";

function snapshotLine(s: Snapshot): string {
  const pause = s.pausedMs !== null ? `, guest paused ${s.pausedMs.toFixed(0)} ms` : "";
  const error = s.error ? `: ${s.error}` : "";
  return `snapshot ${s.name}  ${s.state}${s.state === "available" ? ` (${formatBytes(s.sizeBytes)}${pause})` : ""}${error}\n`;
}

const take: Command = {
  path: ["vps", "snapshot"],
  usage: "<vps> <snapshot-name> [--wait]",
  summary: "snapshot a VPS's disk (a running guest pauses for the copy only)",
  options: { ...MUTATE_OPTIONS, ...WAIT_OPTIONS },
  async run(ctx) {
    const [ref, name] = positionals(ctx.args, ["vps", "snapshot-name"]);
    const id = await vpsId(ctx.api, ref!);
    let s = await ctx.api.post<Snapshot>(`/v1/vps/${id}/snapshots`, { name }, idempotencyKey(ctx));
    if (ctx.args.values.wait) {
      s = await waitFor(
        ctx,
        { what: `snapshot ${s.name}`, follow: `skiff snapshots list --vps ${ref}` },
        () => ctx.api.get<Snapshot>(`/v1/snapshots/${s.id}`),
        (x) => x.state !== "creating",
      );
    }
    emit(ctx, s, () => snapshotLine(s));
    if (s.state === "error")
      throw new ApiError(0, "SNAPSHOT_ERROR", `snapshot ${s.name} failed: ${s.error ?? ""}`);
    return 0;
  },
};

const restore: Command = {
  path: ["vps", "restore-snapshot"],
  usage: "<vps> <snapshot> [--wait]",
  summary: "put a stopped VPS's disk back to one of its snapshots (later writes are lost)",
  options: { ...MUTATE_OPTIONS, ...WAIT_OPTIONS },
  async run(ctx) {
    const [ref, snapshot] = positionals(ctx.args, ["vps", "snapshot"]);
    const id = await vpsId(ctx.api, ref!);
    return finish(
      ctx,
      await ctx.api.post<Vps>(`/v1/vps/${id}/restore-snapshot`, { snapshot }, idempotencyKey(ctx)),
    );
  },
};

const list: Command = {
  path: ["snapshots", "list"],
  usage: "[--vps VPS]",
  summary: "list disk snapshots",
  options: { vps: { type: "string" } },
  async run(ctx) {
    positionals(ctx.args, []);
    const ref = stringOpt(ctx.args.values, "vps");
    const query = ref ? { vpsId: await vpsId(ctx.api, ref) } : {};
    const { items } = await ctx.api.get<{ items: Snapshot[] }>("/v1/snapshots", query);
    emit(ctx, items, () =>
      items.length === 0
        ? "No snapshots.\n"
        : table(items, [
            { header: "id", value: (s) => s.id },
            { header: "name", value: (s) => s.name },
            { header: "state", value: (s) => s.state },
            { header: "size", value: (s) => formatBytes(s.sizeBytes), align: "right" },
            { header: "age", value: (s) => formatAge(s.createdAt), align: "right" },
          ]),
    );
    return 0;
  },
};

const del: Command = {
  path: ["snapshots", "delete"],
  usage: "<snapshot-id>",
  summary: "delete a disk snapshot",
  async run(ctx) {
    const [id] = positionals(ctx.args, ["snapshot-id"]);
    await ctx.api.delete<null>(`/v1/snapshots/${id}`);
    emit(ctx, { id, deleted: true }, () => `snapshot ${id} deleted\n`);
    return 0;
  },
};

export const snapshotCommands: Command[] = [take, restore, list, del];
