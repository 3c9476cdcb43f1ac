import { randomUUID } from "node:crypto";
import type { Logger } from "@skiff/common";
import type { AgentDirectory } from "../agents/agent-client.js";
import type { Db, Snapshot, Vps } from "../db/client.js";
import { projectFilter, type TokenPrincipal } from "../http/auth.js";
import { apiError } from "../http/errors.js";
import { idOrName } from "../http/refs.js";
import { actorOf, recordEvent } from "./events.js";
import type { VpsChanges } from "./vps-changes.js";

export interface SnapshotDeps {
  readonly db: Db;
  readonly agents: AgentDirectory;
  readonly changes: VpsChanges;
  readonly log: Logger;
}

/**
 * User snapshots of VPS disks: taken from a running, paused or stopped VPS (its worker copies the
 * disk on the node), listed, restored onto their stopped VPS, deleted. A project holds at most
 * its `maxSnapshots`.
 */
export class Snapshots {
  constructor(private readonly deps: SnapshotDeps) {}

  async take(p: TokenPrincipal, vpsId: string, name: string): Promise<Snapshot> {
    const id = randomUUID();
    await this.deps.changes.hold(p, vpsId, "snapshot", { snapshotId: id }, async (tx, v) => {
      // The project row serializes quota and name checks, as VPS creation does.
      await tx.$executeRaw`SELECT 1 FROM projects WHERE id = ${v.projectId}::uuid FOR NO KEY UPDATE`;
      const project = await tx.project.findUniqueOrThrow({ where: { id: v.projectId } });
      const count = await tx.snapshot.count({ where: { projectId: v.projectId } });
      if (count + 1 > project.maxSnapshots) {
        throw apiError(
          "QUOTA_EXCEEDED",
          `project quota exceeded: snapshots ${count}/${project.maxSnapshots}`,
        );
      }
      const taken = await tx.snapshot.findFirst({
        where: { projectId: v.projectId, name },
        select: { id: true },
      });
      if (taken) throw apiError("NAME_TAKEN", `a snapshot named ${name} exists`, { id: taken.id });
      await tx.snapshot.create({ data: { id, projectId: v.projectId, vpsId: v.id, name } });
      return { snapshotId: id, name };
    });
    return this.deps.db.snapshot.findUniqueOrThrow({ where: { id } });
  }

  /** A stopped VPS's disk back to one of its own snapshots, reachable from where it is now. */
  async restore(p: TokenPrincipal, vpsId: string, ref: string): Promise<Vps> {
    const snap = await this.deps.db.snapshot.findFirst({
      where: { vpsId, ...projectFilter(p), ...idOrName(ref) },
    });
    if (!snap) throw apiError("INVALID_REFERENCE", `the VPS has no snapshot ${ref}`, { field: "snapshot" });
    return this.deps.changes.hold(p, vpsId, "restore-snapshot", { snapshotId: snap.id }, async (tx, v) => {
      const s = await tx.snapshot.findUniqueOrThrow({ where: { id: snap.id } });
      if (s.state !== "available") {
        throw apiError("INVALID_STATE", `snapshot ${s.name} is ${s.state}`, { state: s.state });
      }
      const reachable = s.nodeId === v.nodeId || (s.storageId !== null && s.storageId === v.diskStorageId);
      if (!reachable) {
        throw apiError(
          "UNPROCESSABLE",
          `snapshot ${s.name} is kept on another node than the VPS's now: migrate the VPS back to it first`,
          { field: "snapshot", nodeId: s.nodeId },
        );
      }
      return { snapshotId: s.id, snapshot: s.name };
    });
  }

  async list(p: TokenPrincipal, q: { vpsId?: string }): Promise<Snapshot[]> {
    return this.deps.db.snapshot.findMany({
      where: { ...projectFilter(p), ...(q.vpsId ? { vpsId: q.vpsId } : {}) },
      orderBy: { createdAt: "asc" },
      take: 500,
    });
  }

  async get(p: TokenPrincipal, id: string): Promise<Snapshot> {
    const s = await this.deps.db.snapshot.findFirst({ where: { id, ...projectFilter(p) } });
    if (!s) throw apiError("NOT_FOUND", `no snapshot ${id}`);
    return s;
  }

  /**
   * Removes the snapshot's file on its node (or any node mounting its storage), then its row. A
   * node that does not answer keeps the file (a leak, reported in the log), never the row.
   */
  async delete(p: TokenPrincipal, id: string): Promise<void> {
    const s = await this.get(p, id);
    if (s.state === "creating")
      throw apiError("INVALID_STATE", "the snapshot is still being taken", { state: s.state });
    const node = await this.deps.db.node.findFirst({
      where: s.storageId ? { storageId: s.storageId, status: "ready" } : { id: s.nodeId ?? undefined },
    });
    if (node && s.path) {
      await this.deps.agents
        .forNode(node)
        .deleteDiskSnapshot(s.id)
        .catch((err: unknown) =>
          this.deps.log.warn({ err, snapshotId: s.id }, "snapshot file left on its node"),
        );
    }
    await this.deps.db.$transaction(async (tx) => {
      await tx.snapshot.delete({ where: { id: s.id } });
      await recordEvent(tx, {
        projectId: s.projectId,
        actor: actorOf(p),
        resourceType: "vps",
        resourceId: s.vpsId,
        type: "vps.snapshot_deleted",
        message: s.name,
        details: { snapshotId: s.id },
      });
    });
  }
}
