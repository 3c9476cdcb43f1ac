/**
 * Registration and heartbeats towards the control plane (REST). While the API is unreachable the
 * agent keeps serving and retries with capped exponential backoff; a heartbeat answered with
 * NODE_NOT_FOUND means the API forgot this node, so it registers again.
 */
import { errorMessage, type Logger } from "@skiff/common";

export interface VmReport {
  vmId: string;
  epoch: number;
  state: "created" | "running" | "paused" | "stopped" | "suspended" | "crashed";
  memoryBytes: number;
  cpuShare?: number;
  dirtyPagesPerSec?: number;
}

export interface Registration {
  name: string;
  grpcAddress: string;
  capacity: { cpus: number; memoryBytes: number; diskBytes: number };
  labels: Record<string, string>;
  /** Where this node keeps VM disks (the control plane restarts shared-disk VPSes elsewhere). */
  storage: { backend: "local" | "shared"; id: string };
  agentVersion: string;
  vms: VmReport[];
  /** Where this node's switch receives the VXLAN overlay, "host:port" (for the network map). */
  overlayEndpoint: string;
}

export interface Heartbeat {
  usage: { cpuPercent: number; memoryUsedBytes: number; vmCount: number };
  vms: VmReport[];
  /** The network map version this node's switch holds (0: none): the control plane resends an older one. */
  networkMapVersion: number;
}

export interface LinkSource {
  registration(): Registration;
  heartbeat(): Heartbeat;
}

export interface LinkOptions {
  readonly apiUrl: string;
  readonly token: string;
  readonly log: Logger;
  readonly source: LinkSource;
  readonly minBackoffMs?: number;
  readonly maxBackoffMs?: number;
  readonly requestTimeoutMs?: number;
}

type LinkState = { phase: "registering" } | { phase: "registered"; nodeId: string; intervalMs: number };

export class ControlPlaneLink {
  private state: LinkState = { phase: "registering" };
  private timer: NodeJS.Timeout | undefined;
  private failures = 0;
  private stopped = false;
  private readonly log: Logger;
  /** When the last registration / heartbeat succeeded (ms since epoch; 0 = never). */
  lastRegisteredAt = 0;
  lastHeartbeatAt = 0;

  constructor(private readonly opts: LinkOptions) {
    this.log = opts.log.child({ part: "control-plane" });
  }

  get nodeId(): string | undefined {
    return this.state.phase === "registered" ? this.state.nodeId : undefined;
  }

  start(): void {
    this.schedule(0);
  }

  private schedule(ms: number): void {
    if (this.stopped) return;
    clearTimeout(this.timer);
    this.timer = setTimeout(() => void this.tick(), ms);
  }

  private backoff(): number {
    const min = this.opts.minBackoffMs ?? 500;
    const max = this.opts.maxBackoffMs ?? 10_000;
    const base = Math.min(max, min * 2 ** Math.min(this.failures, 20));
    this.failures++;
    // Jitter keeps a fleet of agents from retrying in lockstep after an API restart.
    return Math.round(base * (0.5 + Math.random() * 0.5));
  }

  private async post(path: string, body: unknown): Promise<{ status: number; json: unknown }> {
    const res = await fetch(new URL(path, this.opts.apiUrl), {
      method: "POST",
      headers: { authorization: `Bearer ${this.opts.token}`, "content-type": "application/json" },
      body: JSON.stringify(body),
      signal: AbortSignal.timeout(this.opts.requestTimeoutMs ?? 5000),
    });
    const text = await res.text();
    let json: unknown;
    try {
      json = text === "" ? undefined : JSON.parse(text);
    } catch {
      json = undefined;
    }
    return { status: res.status, json };
  }

  private async tick(): Promise<void> {
    if (this.stopped) return;
    try {
      if (this.state.phase === "registering") await this.register();
      else await this.beat(this.state.nodeId);
    } catch (err) {
      const wait = this.backoff();
      this.log.warn(
        { err: errorMessage(err), retryInMs: wait, phase: this.state.phase },
        "control plane unreachable",
      );
      this.schedule(wait);
      return;
    }
    this.failures = 0;
    this.schedule(this.state.phase === "registered" ? this.state.intervalMs : 0);
  }

  private async register(): Promise<void> {
    const { status, json } = await this.post("/v1/nodes/register", this.opts.source.registration());
    const body = json as { nodeId?: unknown; heartbeatIntervalMs?: unknown } | undefined;
    if (status !== 200 || typeof body?.nodeId !== "string") {
      throw new Error(`register: HTTP ${status} ${JSON.stringify(json)}`);
    }
    const intervalMs =
      typeof body.heartbeatIntervalMs === "number" && body.heartbeatIntervalMs > 0
        ? body.heartbeatIntervalMs
        : 5000;
    this.state = { phase: "registered", nodeId: body.nodeId, intervalMs };
    this.lastRegisteredAt = Date.now();
    this.log.info({ nodeId: body.nodeId, intervalMs }, "registered with the control plane");
  }

  private async beat(nodeId: string): Promise<void> {
    const { status, json } = await this.post(
      `/v1/nodes/${encodeURIComponent(nodeId)}/heartbeat`,
      this.opts.source.heartbeat(),
    );
    if (
      status === 404 &&
      (json as { error?: { code?: string } } | undefined)?.error?.code === "NODE_NOT_FOUND"
    ) {
      this.log.warn({ nodeId }, "the control plane forgot this node; registering again");
      this.state = { phase: "registering" };
      return;
    }
    if (status !== 200) throw new Error(`heartbeat: HTTP ${status} ${JSON.stringify(json)}`);
    this.lastHeartbeatAt = Date.now();
  }

  /** Stops the loop; sends one last heartbeat (best effort) so the API sees the VMs as they are. */
  async stop(): Promise<void> {
    this.stopped = true;
    clearTimeout(this.timer);
    if (this.state.phase !== "registered") return;
    try {
      await this.beat(this.state.nodeId);
    } catch (err) {
      this.log.warn({ err: errorMessage(err) }, "last heartbeat failed");
    }
  }
}
