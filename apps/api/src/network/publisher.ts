import { errorMessage, type Logger } from "@skiff/common";
import type { AgentDirectory } from "../agents/agent-client.js";
import { isAgentError } from "../agents/agent-client.js";
import type { Db } from "../db/client.js";
import { buildNetworkMap, type GatewayEndpoint, type NetworkMap } from "./map.js";

export interface NetworkMapPublisherDeps {
  readonly db: Db;
  readonly agents: AgentDirectory;
  readonly log: Logger;
  readonly gateway?: GatewayEndpoint;
  /** Every network's MTU (SKIFF_NETWORK_MTU); the switches' default when absent. */
  readonly mtu?: number;
}

/**
 * Sends the whole network map to agents: to every ready node after a change (`publish`), and to
 * one node whose heartbeat reports an older version (`repair`). Pushes are best effort; the
 * heartbeat comparison is what makes every node converge, whatever was lost on the way.
 * Concurrent publishes coalesce: while one runs, at most one more is queued, and it reads the
 * database afresh, so the last change is always sent.
 */
export class NetworkMapPublisher {
  private running: Promise<void> | null = null;
  private again = false;

  constructor(private readonly deps: NetworkMapPublisherDeps) {}

  /** The map as it is now (also served to the region's gateway). */
  current(): Promise<NetworkMap> {
    return buildNetworkMap(this.deps.db, { gateway: this.deps.gateway, mtu: this.deps.mtu });
  }

  publish(): Promise<void> {
    if (this.running) {
      this.again = true;
      return this.running;
    }
    this.running = (async () => {
      do {
        this.again = false;
        await this.pushToAll().catch((err: unknown) =>
          this.deps.log.warn({ err: errorMessage(err) }, "network map push failed"),
        );
      } while (this.again);
    })().finally(() => {
      this.running = null;
    });
    return this.running;
  }

  /** A node reported `reported`: send it the map when it is older than the database's. */
  async repair(node: { id: string; name: string; grpcAddress: string }, reported: number): Promise<void> {
    const map = await this.current();
    if (reported >= map.version) return;
    await this.send(node, map);
  }

  private async pushToAll(): Promise<void> {
    const map = await this.current();
    const nodes = await this.deps.db.node.findMany({
      where: { status: "ready" },
      select: { id: true, name: true, grpcAddress: true },
    });
    await Promise.all(nodes.map((n) => this.send(n, map)));
  }

  private async send(
    node: { id: string; name: string; grpcAddress: string },
    map: NetworkMap,
  ): Promise<void> {
    try {
      const version = await this.deps.agents.forNode(node).applyNetworkMap(map);
      await this.deps.db.node.updateMany({
        where: { id: node.id, networkMapVersion: { lt: BigInt(version) } },
        data: { networkMapVersion: BigInt(version) },
      });
    } catch (err) {
      // An agent without networking (older build) or one that is down: its heartbeat asks again.
      const level = isAgentError(err, "AGENT_UNIMPLEMENTED") ? "debug" : "warn";
      this.deps.log[level]({ node: node.name, err: errorMessage(err) }, "network map not delivered");
    }
  }
}
