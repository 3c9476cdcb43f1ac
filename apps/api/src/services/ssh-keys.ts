import type { Db, Prisma, SshKey } from "../db/client.js";
import { parseSshPublicKey } from "../domain/ssh-key.js";
import { projectFilter, type TokenPrincipal } from "../http/auth.js";
import { apiError } from "../http/errors.js";
import { afterCursor, decodeCursor, orderForCursor } from "../http/pagination.js";
import { idOrName } from "../http/refs.js";
import { actorOf, recordEvent } from "./events.js";
import { resolveProject } from "./project-scope.js";

/** Keys a VPS may be created with: its guest's authorized_keys stays a small file. */
export const MAX_KEYS_PER_VPS = 16;

/**
 * A project's SSH public keys: added (checked, fingerprinted), listed, deleted, and copied into a
 * new VPS (POST /v1/vps sshKeys), whose guest reads them from the node's metadata service.
 */
export class SshKeys {
  constructor(private readonly db: Db) {}

  async add(
    p: TokenPrincipal,
    body: { name: string; publicKey: string; projectId?: string },
  ): Promise<SshKey> {
    if (p.kind === "tenant" && body.projectId)
      throw apiError("FORBIDDEN", "only operators may choose the project");
    const parsed = parseSshPublicKey(body.publicKey);
    if (!parsed.ok) {
      throw apiError("VALIDATION_FAILED", `publicKey is not an OpenSSH public key (${parsed.problem})`, {
        field: "publicKey",
        problem: parsed.problem,
      });
    }
    const projectId = await resolveProject(this.db, p, body.projectId);
    return this.db.$transaction(async (tx) => {
      const clash = await tx.sshKey.findFirst({
        where: { projectId, OR: [{ name: body.name }, { fingerprint: parsed.key.fingerprint }] },
      });
      if (clash) {
        const same =
          clash.name === body.name ? `named ${body.name}` : `with fingerprint ${clash.fingerprint}`;
        throw apiError("NAME_TAKEN", `the project has an SSH key ${same}`, {
          id: clash.id,
          name: clash.name,
        });
      }
      const key = await tx.sshKey.create({
        data: { projectId, name: body.name, publicKey: parsed.key.line, fingerprint: parsed.key.fingerprint },
      });
      await recordEvent(tx, {
        projectId,
        actor: actorOf(p),
        resourceType: "ssh_key",
        resourceId: key.id,
        type: "ssh_key.added",
        details: { name: key.name, fingerprint: key.fingerprint },
      });
      return key;
    });
  }

  async list(
    p: TokenPrincipal,
    q: { limit: number; cursor?: string; projectId?: string },
  ): Promise<SshKey[]> {
    const where: Prisma.SshKeyWhereInput = {
      ...projectFilter(p),
      ...(p.kind === "operator" && q.projectId ? { projectId: q.projectId } : {}),
      ...afterCursor(decodeCursor(q.cursor)),
    };
    return this.db.sshKey.findMany({ where, orderBy: orderForCursor(), take: q.limit + 1 });
  }

  /** By id or name; the same 404 whether it is missing or another project's. */
  async get(p: TokenPrincipal, ref: string): Promise<SshKey> {
    const key = await this.db.sshKey.findFirst({ where: { ...idOrName(ref), ...projectFilter(p) } });
    if (!key) throw apiError("SSH_KEY_NOT_FOUND", `no SSH key ${ref}`);
    return key;
  }

  /** VPSes created with it keep their copy. */
  async delete(p: TokenPrincipal, ref: string): Promise<void> {
    const key = await this.get(p, ref);
    await this.db.$transaction(async (tx) => {
      await tx.sshKey.delete({ where: { id: key.id } });
      await recordEvent(tx, {
        projectId: key.projectId,
        actor: actorOf(p),
        resourceType: "ssh_key",
        resourceId: key.id,
        type: "ssh_key.deleted",
        details: { name: key.name, fingerprint: key.fingerprint },
      });
    });
  }
}

/** The authorized_keys text for a new VPS of `projectId` from key ids or names, in order, once each. */
export async function authorizedKeysFor(db: Db, projectId: string, refs: readonly string[]): Promise<string> {
  if (refs.length > MAX_KEYS_PER_VPS) {
    throw apiError("VALIDATION_FAILED", `at most ${MAX_KEYS_PER_VPS} SSH keys per VPS`, { field: "sshKeys" });
  }
  const lines: string[] = [];
  for (const ref of refs) {
    const key = await db.sshKey.findFirst({ where: { ...idOrName(ref), projectId } });
    if (!key)
      throw apiError("INVALID_REFERENCE", `no SSH key ${ref} in the project`, { field: "sshKeys", ref });
    if (!lines.includes(key.publicKey)) lines.push(key.publicKey);
  }
  return lines.map((l) => `${l}\n`).join("");
}
