import type { Logger } from "@skiff/common";
import type { CertifiedPeer } from "@skiff/pki";
import type { z } from "zod";
import type { IdentityCheck } from "../agents/agent-client.js";
import { type AgentCertificateDeps, checkAgentCertificate } from "../auth/agent-certificate.js";
import { NodeRevocations } from "../auth/node-revocations.js";
import type { Db, Node, Prisma } from "../db/client.js";
import { canTransition, type VpsState } from "../domain/vps-state.js";
import { apiError } from "../http/errors.js";
import type { HeartbeatBody, RegisterNodeBody, VmReport } from "../http/schemas.js";
import { overlayAddress } from "../network/overlay-address.js";
import type { NetworkMapPublisher } from "../network/publisher.js";
import type { DestroyStaleJob } from "../queues.js";
import { type Actor, recordEvent, SYSTEM } from "./events.js";
import { VmUsageBoard } from "./vm-usage.js";
import { moveVps } from "./vps-state-store.js";

type RegisterInput = z.infer<typeof RegisterNodeBody>;
type HeartbeatInput = z.infer<typeof HeartbeatBody>;

const AGENT: Actor = { type: "agent", id: null };

/** What an agent's VM state means for the VPS (when no action is in flight). */
const OBSERVED: Record<VmReport["state"], VpsState> = {
  created: "stopped",
  running: "running",
  paused: "paused",
  stopped: "stopped",
  suspended: "suspended",
  crashed: "error",
};

/** VPS states the heartbeat reconciles against what the node reports. */
const RECONCILED: readonly VpsState[] = ["running", "paused", "stopped", "suspended", "unknown"];

/** A VM on `nodeId` at `epoch` that its VPS row does not account for. */
export function isStale(
  v: { state: string; nodeId: string | null; epoch: number } | null,
  nodeId: string,
  epoch: number,
): boolean {
  return !v || v.state === "deleted" || v.nodeId !== nodeId || epoch < v.epoch;
}

/** "host:port" → the node's overlay columns (both null when the agent has no overlay). */
async function overlayOf(
  endpoint: string | undefined,
): Promise<{ overlayHost: string | null; overlayPort: number | null }> {
  if (!endpoint) return { overlayHost: null, overlayPort: null };
  const i = endpoint.lastIndexOf(":");
  return {
    overlayHost: await overlayAddress(endpoint.slice(0, i)),
    overlayPort: Number(endpoint.slice(i + 1)),
  };
}

/** A VM a node runs for a VPS that is now elsewhere or gone (destroyed by a maintenance job). */
export type StaleVm = DestroyStaleJob;

export interface NodeServiceDeps {
  readonly db: Db;
  readonly log: Logger;
  readonly heartbeatIntervalMs: number;
  /** Called for VMs a node runs that it must not (deleted VPS, or one placed elsewhere since). */
  readonly onStaleVm?: (vm: StaleVm) => Promise<void>;
  readonly networkMap?: NetworkMapPublisher;
  /** Whether the agent at an address holds the named node's certificate (agents/agent-client.ts). */
  readonly verifyIdentity?: (node: { name: string; grpcAddress: string }) => Promise<IdentityCheck>;
  /**
   * Set (mutual TLS): an agent's registration and heartbeats must come with its node's certificate
   * (agent-certificate.ts). Unset (SKIFF_TLS=off): the agent token alone.
   */
  readonly agentCertificates?: AgentCertificateDeps;
}

/** Who sent an agent's request: the certificate its connection proved (none: plaintext), and from where. */
export interface AgentCaller {
  readonly peer: CertifiedPeer | undefined;
  readonly address: string;
}

/** Node registration, heartbeats, maintenance and health: the control plane's view of hosts. */
export class NodeService {
  /** What each node's last heartbeat said its VMs use (for /metrics). */
  readonly usage: VmUsageBoard;
  /** The TLS peers each node's agent refused since it started, by reason, as its last heartbeat said. */
  readonly tlsRefusals = new Map<string, Readonly<Record<string, number>>>();

  constructor(private readonly deps: NodeServiceDeps) {
    this.usage = new VmUsageBoard(3 * deps.heartbeatIntervalMs);
  }

  private async checkCaller(nodeName: string, caller: AgentCaller | undefined): Promise<void> {
    const certs = this.deps.agentCertificates;
    if (certs) await checkAgentCertificate(certs, nodeName, caller?.peer, caller?.address ?? "?");
  }

  async register(
    body: RegisterInput,
    caller?: AgentCaller,
  ): Promise<{ nodeId: string; heartbeatIntervalMs: number; serverTimeMs: number }> {
    const { db } = this.deps;
    await this.checkCaller(body.name, caller);
    // The agent at the address must prove the name with its certificate, or the row (and the VMs
    // placed on it) would go to whoever holds the token. Nothing answering proves nothing either
    // way: every later call to that address checks the name again.
    if ((await this.deps.verifyIdentity?.(body)) === "refused") {
      throw apiError(
        "NODE_IDENTITY_MISMATCH",
        `the agent at ${body.grpcAddress} holds no certificate for node ${body.name}`,
        { name: body.name, grpcAddress: body.grpcAddress },
      );
    }
    const now = new Date();
    const data = {
      grpcAddress: body.grpcAddress,
      cpus: body.capacity.cpus,
      memoryBytes: BigInt(body.capacity.memoryBytes),
      diskBytes: BigInt(body.capacity.diskBytes),
      labels: body.labels,
      storageBackend: body.storage.backend,
      storageId: body.storage.backend === "shared" ? body.storage.id : null,
      agentVersion: body.agentVersion,
      lastHeartbeatAt: now,
      // A restarted agent's switch starts empty: it gets the map again (below), whatever it had.
      networkMapVersion: 0n,
      ...(await overlayOf(body.overlayEndpoint)),
    };
    const node = await db.$transaction(async (tx) => {
      const existing = await tx.node.findUnique({ where: { name: body.name } });
      if (!existing) {
        const created = await tx.node.create({ data: { name: body.name, ...data, status: "ready" } });
        await recordEvent(tx, {
          actor: AGENT,
          resourceType: "node",
          resourceId: created.id,
          type: "node.registered",
          toState: "ready",
          details: { grpcAddress: body.grpcAddress, capacity: body.capacity, storage: body.storage },
        });
        return created;
      }
      // A fenced node stays fenced until an operator says otherwise (issue: node failure recovery).
      const status = existing.status === "fenced" ? "fenced" : "ready";
      const updated = await tx.node.update({ where: { id: existing.id }, data: { ...data, status } });
      await recordEvent(tx, {
        actor: AGENT,
        resourceType: "node",
        resourceId: existing.id,
        type: "node.reregistered",
        fromState: existing.status,
        toState: status,
        details: { grpcAddress: body.grpcAddress, agentVersion: body.agentVersion, storage: body.storage },
      });
      return updated;
    });
    await this.reconcile(node, body.vms);
    // Every node learns the (maybe new) endpoint; this one gets its first map.
    if (body.overlayEndpoint) void this.deps.networkMap?.publish();
    return { nodeId: node.id, heartbeatIntervalMs: this.deps.heartbeatIntervalMs, serverTimeMs: Date.now() };
  }

  async heartbeat(nodeId: string, body: HeartbeatInput, caller?: AgentCaller): Promise<void> {
    const { db } = this.deps;
    const node = await db.node.findUnique({ where: { id: nodeId } });
    if (!node) throw apiError("NODE_NOT_FOUND", `no node ${nodeId}; register again`);
    await this.checkCaller(node.name, caller);
    if (body.tlsRefusals) this.tlsRefusals.set(node.name, body.tlsRefusals);
    const back = node.status === "unreachable";
    const updated = await db.$transaction(async (tx) => {
      const n = await tx.node.update({
        where: { id: nodeId },
        data: {
          cpuPercent: body.usage.cpuPercent,
          memoryUsedBytes: BigInt(body.usage.memoryUsedBytes),
          vmCount: body.usage.vmCount,
          lastHeartbeatAt: new Date(),
          ...(body.networkMapVersion !== undefined
            ? { networkMapVersion: BigInt(body.networkMapVersion) }
            : {}),
          ...(back ? { status: "ready" as const } : {}),
        },
      });
      if (back) {
        await recordEvent(tx, {
          actor: AGENT,
          resourceType: "node",
          resourceId: nodeId,
          type: "node.recovered",
          fromState: "unreachable",
          toState: "ready",
        });
      }
      return n;
    });
    this.usage.report(nodeId, body.vms);
    await this.reconcile(updated, body.vms, body.capturedAfterMs);
    const publisher = this.deps.networkMap;
    if (publisher && body.networkMapVersion !== undefined && updated.status === "ready") {
      publisher.repair(updated, body.networkMapVersion).catch((err: unknown) => {
        this.deps.log.warn({ err, node: updated.name }, "network map repair failed");
      });
    }
  }

  /**
   * Brings VPS rows in line with what the node reports, for VPSes with no action in flight (an
   * action's worker owns the state until it ends). VMs the node should not have are handed to
   * `onStaleVm` to be destroyed: a node that comes back never resumes a VPS placed elsewhere.
   * `capturedAfterMs`: the report was taken after the API's answer stamped with that time.
   */
  private async reconcile(node: Node, reports: readonly VmReport[], capturedAfterMs?: number): Promise<void> {
    const { db } = this.deps;
    const byId = new Map(reports.map((r) => [r.vmId, r]));
    const vpses = await db.vps.findMany({
      where: { OR: [{ nodeId: node.id }, { id: { in: [...byId.keys()] } }] },
      select: {
        id: true,
        projectId: true,
        state: true,
        epoch: true,
        nodeId: true,
        action: true,
        actionId: true,
        updatedAt: true,
      },
    });
    const known = new Map(vpses.map((v) => [v.id, v]));
    // A report may have been taken before the last action ended (the agent builds a heartbeat,
    // then the action lands first): trust reports only about VPSes that have been settled longer
    // than two heartbeats. A real change (a crash, a guest poweroff) is seen in the next ones. A
    // VPS whose node went silent (unknown) takes the first report of the node that came back.
    // A report delivered late (its agent frozen, or starved, between taking and sending it) may
    // be older than that: the API's own time the agent sends back bounds when it was taken, and
    // a VPS changed after it is judged on a later report.
    const settledBefore = Date.now() - 2 * this.deps.heartbeatIntervalMs;
    const predates = (v: { updatedAt: Date }) =>
      capturedAfterMs !== undefined && v.updatedAt.getTime() >= capturedAfterMs;
    for (const r of reports) {
      const v = known.get(r.vmId);
      if (v && !isStale(v, node.id, r.epoch)) continue;
      // A VM being created, deleted or migrated is its worker's business: a migration's target
      // reports the VM once it committed, before the worker moved the VPS there.
      if (v?.action) continue;
      await this.deps.onStaleVm?.({ nodeId: node.id, vmId: r.vmId, epoch: r.epoch });
    }
    if (node.status !== "ready") return;
    for (const v of vpses) {
      if (v.nodeId !== node.id || v.action || !RECONCILED.includes(v.state)) continue;
      if (v.state !== "unknown" && v.updatedAt.getTime() > settledBefore) continue;
      if (predates(v)) continue;
      const r = byId.get(v.id);
      let to: VpsState;
      let reason: string;
      if (r && r.epoch === v.epoch) {
        to = OBSERVED[r.state];
        reason = r.state === "crashed" ? "the VM crashed" : `node reports the VM ${r.state}`;
      } else if (v.state === "unknown") {
        continue; // its node came back without it: recovery (balancer issue) decides
      } else {
        to = "error";
        reason = "the node no longer has this VM";
      }
      if (to === v.state || !canTransition(v.state, to)) continue;
      await db.$transaction((tx) =>
        moveVps(tx, v, to, { actor: AGENT, type: "vps.state_observed", reason, actionId: null }),
      );
    }
  }

  async setMaintenance(nodeId: string, on: boolean, actor: Actor): Promise<Node> {
    return this.deps.db.$transaction(async (tx) => {
      const node = await tx.node.findUnique({ where: { id: nodeId } });
      if (!node) throw apiError("NODE_NOT_FOUND", `no node ${nodeId}`);
      if (node.maintenance === on) return node;
      const n = await tx.node.update({ where: { id: nodeId }, data: { maintenance: on } });
      await recordEvent(tx, {
        actor,
        resourceType: "node",
        resourceId: nodeId,
        type: on ? "node.drained" : "node.undrained",
        message: on ? "maintenance: no new VPSes are placed here" : "back in service",
      });
      return n;
    });
  }

  /**
   * Revokes a node for good (deleted, or fenced never to return): it is fenced, and every
   * certificate naming it issued until now is refused (its registration, heartbeats, and the
   * API's calls to it). Only a node that holds no VPS, or one already fenced (its VPSes are being
   * recovered elsewhere): revoking a live node would strand its guests. The name can be used again
   * by a node with a certificate issued afterwards; it starts fenced and is readmitted as any.
   */
  async revoke(nodeId: string, reason: string, actor: Actor): Promise<Node> {
    const at = new Date();
    const node = await this.deps.db.$transaction(async (tx) => {
      const node = await tx.node.findUnique({ where: { id: nodeId } });
      if (!node) throw apiError("NODE_NOT_FOUND", `no node ${nodeId}`);
      const vpses = await tx.vps.count({ where: { nodeId, state: { not: "deleted" } } });
      if (node.status !== "fenced" && vpses > 0) {
        throw apiError(
          "NODE_NOT_EMPTY",
          `node ${node.name} holds ${vpses} VPS(es): drain it first (or revoke it once it is fenced)`,
          { vpses },
        );
      }
      await NodeRevocations.revoke(tx, node.name, reason, at);
      // No heartbeat on record: the recovery must not readmit it on one received before.
      const n = await tx.node.update({
        where: { id: nodeId },
        data: { status: "fenced", lastHeartbeatAt: null },
      });
      await recordEvent(tx, {
        actor,
        resourceType: "node",
        resourceId: nodeId,
        type: "node.revoked",
        fromState: node.status,
        toState: "fenced",
        message: `revoked: certificates naming node:${node.name} issued until ${at.toISOString()} are refused`,
        details: { reason },
      });
      return n;
    });
    this.deps.agentCertificates?.revocations.note(node.name, at);
    this.deps.log.warn({ node: node.name, reason }, "node revoked");
    return node;
  }

  /**
   * Marks nodes whose heartbeats stopped as unreachable, and their VPSes (those no action holds)
   * as unknown. Returns the nodes it marked.
   */
  async markSilentNodes(deadAfterMs: number, now = new Date()): Promise<string[]> {
    const { db } = this.deps;
    const cutoff = new Date(now.getTime() - deadAfterMs);
    const silent = await db.node.findMany({
      where: { status: "ready", OR: [{ lastHeartbeatAt: { lt: cutoff } }, { lastHeartbeatAt: null }] },
    });
    const marked: string[] = [];
    for (const n of silent) {
      const done = await db.$transaction(async (tx) => {
        const { count } = await tx.node.updateMany({
          where: { id: n.id, status: "ready", lastHeartbeatAt: n.lastHeartbeatAt },
          data: { status: "unreachable" },
        });
        if (count === 0) return false; // a heartbeat arrived meanwhile
        await recordEvent(tx, {
          actor: SYSTEM,
          resourceType: "node",
          resourceId: n.id,
          type: "node.unreachable",
          fromState: "ready",
          toState: "unreachable",
          message: `no heartbeat since ${n.lastHeartbeatAt?.toISOString() ?? "registration"}`,
        });
        const vpses = await tx.vps.findMany({ where: { nodeId: n.id, action: null } });
        for (const v of vpses) {
          if (v.state !== "unknown" && canTransition(v.state, "unknown")) {
            await moveVps(tx, v, "unknown", {
              actor: SYSTEM,
              reason: `node ${n.name} is unreachable`,
              actionId: null,
            });
          }
        }
        return true;
      });
      if (done) {
        marked.push(n.id);
        this.deps.log.warn({ node: n.name }, "node unreachable (heartbeats stopped)");
      }
    }
    return marked;
  }
}

export type NodeWhere = Prisma.NodeWhereInput;
