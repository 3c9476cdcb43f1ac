/**
 * Registration and heartbeats towards the control plane (REST). While the API is unreachable the
 * agent keeps serving and retries with capped exponential backoff; a heartbeat answered with
 * NODE_NOT_FOUND means the API forgot this node, so it registers again. With mutual TLS the
 * requests go to the API's agent listener with this node's certificate, to a server that must
 * hold the API's.
 */
import { request as httpRequest, type IncomingMessage } from "node:http";
import { request as httpsRequest } from "node:https";
import { errorMessage, type Logger } from "@skiff/common";
import { API_IDENTITY, httpsClientOptions, type TlsMaterial } from "@skiff/pki";

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
  /** TLS peers this agent refused since it started, by reason (the API shows them in /metrics). */
  tlsRefusals: Readonly<Record<string, number>>;
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
  /** This node's certificate (undefined: SKIFF_TLS=off, plaintext). */
  readonly tls?: TlsMaterial;
  readonly minBackoffMs?: number;
  readonly maxBackoffMs?: number;
  readonly requestTimeoutMs?: number;
}

/** The API answered, and said no (a certificate naming another node, a revoked node, a bad token). */
class Refusal extends Error {
  constructor(
    what: string,
    readonly status: number,
    readonly code: string | undefined,
    detail: string,
  ) {
    super(`${what}: HTTP ${status} ${code ?? ""} ${detail}`.trim());
  }
}

function refusal(what: string, status: number, json: unknown): Refusal {
  const e = (json as { error?: { code?: unknown; message?: unknown } } | undefined)?.error;
  return new Refusal(
    what,
    status,
    typeof e?.code === "string" ? e.code : undefined,
    typeof e?.message === "string" ? e.message : JSON.stringify(json),
  );
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
  /**
   * The API's clock on its last answer. The next report, taken after it, sends it back: the API
   * then knows a report that reached it late says nothing of VPSes changed since.
   */
  private serverTimeMs: number | undefined;

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
    const url = new URL(path, this.opts.apiUrl);
    const tls = this.opts.tls;
    const { status, text } = await new Promise<{ status: number; text: string }>((resolve, reject) => {
      const options = {
        method: "POST",
        headers: { authorization: `Bearer ${this.opts.token}`, "content-type": "application/json" },
        timeout: this.opts.requestTimeoutMs ?? 5000,
      };
      const onResponse = (res: IncomingMessage) => {
        let text = "";
        res.setEncoding("utf8");
        res.on("data", (d: string) => (text += d));
        res.on("end", () => resolve({ status: res.statusCode ?? 0, text }));
        res.on("error", reject);
      };
      const req =
        url.protocol === "https:"
          ? httpsRequest(
              url,
              { ...options, ...(tls ? httpsClientOptions(tls, API_IDENTITY, this.log) : {}) },
              onResponse,
            )
          : httpRequest(url, options, onResponse);
      req.on("timeout", () => req.destroy(new Error(`no answer within ${options.timeout} ms`)));
      req.on("error", reject);
      req.end(JSON.stringify(body));
    });
    let json: unknown;
    try {
      json = text === "" ? undefined : JSON.parse(text);
    } catch {
      json = undefined;
    }
    return { status, json };
  }

  private async tick(): Promise<void> {
    if (this.stopped) return;
    try {
      if (this.state.phase === "registering") await this.register();
      else await this.beat(this.state.nodeId);
    } catch (err) {
      const wait = this.backoff();
      if (err instanceof Refusal && err.status >= 400 && err.status < 500) {
        // Retrying stays right (an operator may fix the certificate), but this is no outage.
        this.log.error(
          { code: err.code, status: err.status, err: err.message, retryInMs: wait, phase: this.state.phase },
          "the control plane refused this node",
        );
      } else {
        this.log.warn(
          { err: errorMessage(err), retryInMs: wait, phase: this.state.phase },
          "control plane unreachable",
        );
      }
      this.schedule(wait);
      return;
    }
    this.failures = 0;
    this.schedule(this.state.phase === "registered" ? this.state.intervalMs : 0);
  }

  private async register(): Promise<void> {
    const { status, json } = await this.post("/v1/nodes/register", this.opts.source.registration());
    const body = json as
      | { nodeId?: unknown; heartbeatIntervalMs?: unknown; serverTimeMs?: unknown }
      | undefined;
    if (status !== 200 || typeof body?.nodeId !== "string") throw refusal("register", status, json);
    this.noteServerTime(body);
    const intervalMs =
      typeof body.heartbeatIntervalMs === "number" && body.heartbeatIntervalMs > 0
        ? body.heartbeatIntervalMs
        : 5000;
    this.state = { phase: "registered", nodeId: body.nodeId, intervalMs };
    this.lastRegisteredAt = Date.now();
    this.log.info({ nodeId: body.nodeId, intervalMs }, "registered with the control plane");
  }

  private noteServerTime(body: { serverTimeMs?: unknown } | undefined): void {
    if (typeof body?.serverTimeMs === "number") this.serverTimeMs = body.serverTimeMs;
  }

  private async beat(nodeId: string): Promise<void> {
    const capturedAfterMs = this.serverTimeMs;
    const report = this.opts.source.heartbeat();
    const { status, json } = await this.post(
      `/v1/nodes/${encodeURIComponent(nodeId)}/heartbeat`,
      capturedAfterMs === undefined ? report : { ...report, capturedAfterMs },
    );
    if (
      status === 404 &&
      (json as { error?: { code?: string } } | undefined)?.error?.code === "NODE_NOT_FOUND"
    ) {
      this.log.warn({ nodeId }, "the control plane forgot this node; registering again");
      this.state = { phase: "registering" };
      return;
    }
    if (status !== 200) throw refusal("heartbeat", status, json);
    this.noteServerTime(json as { serverTimeMs?: unknown } | undefined);
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
