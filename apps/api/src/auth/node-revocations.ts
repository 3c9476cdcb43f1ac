/**
 * Revoked nodes (the revoked_nodes table) as the API checks them. Per request (registration,
 * heartbeat) the table is read afresh, so a revocation holds at once in every API replica. The
 * gRPC handshake's check is synchronous: it reads a copy kept here, refreshed every few seconds
 * and at once in the replica that revoked; channels already open to a node that becomes revoked
 * are closed (`onRevoked`), so the next call handshakes again and is refused.
 */
import { nodeNameOf, type RevocationList } from "@skiff/pki";
import type { Db, Prisma } from "../db/client.js";

export class NodeRevocations implements RevocationList {
  private readonly known = new Map<string, Date>();

  constructor(
    private readonly db: Db,
    private readonly onRevoked: (nodeName: string) => void = () => undefined,
  ) {}

  revokedAt(identity: string): Date | undefined {
    const name = nodeNameOf(identity);
    return name === undefined ? undefined : this.known.get(name);
  }

  /** When node `name` was revoked, read now (undefined: it is not). */
  async lookup(name: string): Promise<Date | undefined> {
    const row = await this.db.revokedNode.findUnique({ where: { name } });
    if (row) this.note(name, row.revokedAt);
    return row?.revokedAt;
  }

  /** Reads the whole table (a region revokes few nodes). */
  async refresh(): Promise<void> {
    for (const row of await this.db.revokedNode.findMany()) this.note(row.name, row.revokedAt);
  }

  /** Records the revocation of node `name` in a transaction; `note` it once committed. */
  static async revoke(tx: Prisma.TransactionClient, name: string, reason: string, at: Date): Promise<void> {
    await tx.revokedNode.upsert({
      where: { name },
      create: { name, revokedAt: at, reason },
      update: { revokedAt: at, reason },
    });
  }

  note(name: string, at: Date): void {
    if (this.known.get(name)?.getTime() === at.getTime()) return;
    this.known.set(name, at);
    this.onRevoked(name);
  }
}
