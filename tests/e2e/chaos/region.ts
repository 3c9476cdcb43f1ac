/**
 * A whole region on this host for the chaos run: PostgreSQL, Redis (persistent, so a restart keeps
 * the queues as production's would), two API replicas sharing them, and four node agents on one
 * shared disk store. Every part can be killed, frozen and started again on the same address.
 */
import { spawnSync } from "node:child_process";
import { existsSync, mkdirSync, readdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import {
  freePort,
  LOCAL_NETWORK_MTU,
  makeTempDir,
  type PostgresServer,
  processAlive,
  processArgv,
  type RedisServer,
  type Supervised,
  startPostgres,
  startProcess,
  startRedis,
  type TestRegion,
  testRegion,
  waitUntil,
} from "@skiff/devkit";

export const root = join(import.meta.dirname, "..", "..", "..");
const API_MAIN = join(root, "apps/api/dist/main.js");
const MIGRATE = join(root, "apps/api/dist/db/migrate.js");
const AGENT_MAIN = join(root, "apps/node-agent/dist/main.js");
export const REGION_BUILT = [API_MAIN, MIGRATE, AGENT_MAIN];

export const AGENT_TOKEN = "chaos-agent-secret";

export interface Part {
  readonly name: string;
  readonly port: number;
  proc?: Supervised;
  /** SIGSTOPped: alive, answering nothing. */
  frozen: boolean;
}

export interface AgentPart extends Part {
  readonly dataDir: string;
}

/** An API replica: its public port, and the agents' mutual-TLS one. */
export interface ApiPart extends Part {
  readonly agentPort: number;
}

export interface HttpAnswer {
  readonly status: number;
  // biome-ignore lint/suspicious/noExplicitAny: the run reads API JSON bodies freely
  readonly body: any;
  /** Which replica answered. */
  readonly via: string;
}

export interface RegionOptions {
  readonly agents: number;
  readonly apis: number;
  /** Heartbeat deadline: a node silent this long is unreachable (and fenced a little later). */
  readonly nodeDeadAfterMs: number;
}

export class Region {
  readonly operatorToken = `skiff_op_chaos_${Date.now()}`;
  readonly apis: ApiPart[] = [];
  readonly agents: AgentPart[] = [];
  readonly sharedDir: string;
  private readonly tmp = makeTempDir("skiff-chaos-");
  private redis?: RedisServer;
  private postgres?: PostgresServer;
  private redisPort = 0;
  private pgPort = 0;
  /** The region's certificates (mutual TLS between the API replicas and the agents). */
  pki: TestRegion | undefined;
  private next = 0;
  /**
   * Called when an agent's or replica's process ends without the run having ended it: a crash
   * is a finding of its own, not only the cascade it causes.
   */
  onDeath?: (p: ApiPart | AgentPart, how: string, lastOutput: string) => void;

  constructor(private readonly opts: RegionOptions) {
    this.sharedDir = join(this.tmp.path, "shared");
  }

  get dir(): string {
    return this.tmp.path;
  }

  /** CHAOS_LOG_DIR: each API replica and agent appends its log to <dir>/<name>.log, kept after the run. */
  private logFile(name: string): { logFile?: string } {
    const dir = process.env.CHAOS_LOG_DIR;
    if (!dir) return {};
    mkdirSync(dir, { recursive: true });
    return { logFile: join(dir, `${name}.log`) };
  }

  private env(): Record<string, string> {
    return {
      ...(process.env as Record<string, string>),
      LOG_LEVEL: process.env.CHAOS_LOG_LEVEL ?? "warn",
      DATABASE_URL: `postgresql://postgres@127.0.0.1:${this.pgPort}/skiff`,
      REDIS_URL: `redis://127.0.0.1:${this.redisPort}`,
      SKIFF_AGENT_TOKEN: AGENT_TOKEN,
      SKIFF_OPERATOR_TOKEN: this.operatorToken,
      SKIFF_REPO_ROOT: root,
      ...(this.pki ? { SKIFF_TLS_DIR: this.pki.dir } : {}),
    };
  }

  async start(): Promise<void> {
    sweepCrashedRegions();
    writeFileSync(join(this.tmp.path, "chaos.pid"), String(process.pid));
    this.redisPort = await freePort();
    this.pgPort = await freePort();
    await this.startRedis();
    await this.startPostgres();
    for (let i = 1; i <= this.opts.apis; i++)
      this.apis.push({
        name: `api-${i}`,
        port: await freePort(),
        agentPort: await freePort(),
        frozen: false,
      });
    for (let i = 1; i <= this.opts.agents; i++) {
      this.agents.push({
        name: `node-${i}`,
        port: await freePort(),
        dataDir: join(this.tmp.path, `agent-${i}`),
        frozen: false,
      });
    }
    this.pki = await testRegion();
    await Promise.all(this.agents.map((a) => this.pki!.node(a.name)));
    const m = spawnSync(process.execPath, [MIGRATE, "--seed"], { env: this.env(), encoding: "utf8" });
    if (m.status !== 0) throw new Error(`migrate failed: ${m.stdout}${m.stderr}`);
    await Promise.all(this.apis.map((a) => this.startApi(a)));
    for (const a of this.agents) this.startAgent(a);
    await waitUntil(
      `${this.agents.length} nodes ready`,
      async () => {
        const r = await this.call("GET", "/v1/nodes?status=ready");
        return r.status === 200 && r.body.items.length === this.agents.length;
      },
      { timeoutMs: 60_000 },
    );
  }

  async startRedis(): Promise<void> {
    this.redis = await startRedis({ port: this.redisPort, dataDir: join(this.tmp.path, "redis") });
  }

  async stopRedis(): Promise<void> {
    await this.redis?.stop();
    this.redis = undefined;
  }

  async startPostgres(): Promise<void> {
    this.postgres = await startPostgres({ port: this.pgPort, dataDir: join(this.tmp.path, "pg") });
  }

  async stopPostgres(): Promise<void> {
    await this.postgres?.stop();
    this.postgres = undefined;
  }

  async startApi(a: ApiPart): Promise<void> {
    a.frozen = false;
    a.proc = startProcess(a.name, process.execPath, [API_MAIN], {
      env: {
        ...this.env(),
        SKIFF_API_PORT: String(a.port),
        SKIFF_API_AGENT_PORT: String(a.agentPort),
        SKIFF_API_HOST: "127.0.0.1",
        SKIFF_HEARTBEAT_INTERVAL_MS: "500",
        SKIFF_NODE_DEAD_AFTER_MS: String(this.opts.nodeDeadAfterMs),
        SKIFF_NODE_FENCE_AFTER_MS: String(this.opts.nodeDeadAfterMs + 1000),
        SKIFF_BALANCER_INTERVAL_MS: "1000",
        SKIFF_RATE_LIMIT_PER_MINUTE: "1000000",
        SKIFF_MIGRATIONS_PER_NODE: "2",
        SKIFF_NETWORK_MTU: String(LOCAL_NETWORK_MTU),
      },
      ...this.logFile(a.name),
    });
    const proc = a.proc;
    this.watch(a, proc);
    await waitUntil(
      `${a.name} ready`,
      async () => (await fetch(`http://127.0.0.1:${a.port}/readyz`).catch(() => undefined))?.status === 200,
      { proc, timeoutMs: 60_000 },
    );
  }

  startAgent(a: AgentPart): void {
    a.frozen = false;
    a.proc = startProcess(a.name, process.execPath, [AGENT_MAIN], {
      env: {
        ...this.env(),
        // Any replica will do: the first one that is up when the agent starts.
        SKIFF_API_URL: `https://127.0.0.1:${this.apis[0]!.agentPort}`,
        SKIFF_AGENT_NAME: a.name,
        SKIFF_AGENT_GRPC_PORT: String(a.port),
        SKIFF_AGENT_DATA_DIR: a.dataDir,
        SKIFF_AGENT_SHARED_DIR: this.sharedDir,
        SKIFF_AGENT_CPUS: "2",
        HOST: "127.0.0.1",
      },
      ...this.logFile(a.name),
    });
    this.watch(a, a.proc);
  }

  /** A part's process that ends while still the part's own was not ended by the run. */
  private watch<T extends ApiPart | AgentPart>(p: T, proc: Supervised): void {
    proc.child.once("exit", (code, signal) => {
      if (p.proc !== proc) return;
      p.proc = undefined;
      p.frozen = false;
      this.onDeath?.(p, signal ?? `exit code ${code}`, proc.output().slice(-2000));
    });
  }

  /** kill -9 of a part's process (an agent's VMMs live on: they are processes of their own). */
  async kill(p: Part): Promise<void> {
    const proc = p.proc;
    p.proc = undefined; // first: its exit is then the run's doing, not a death
    if (p.frozen) proc?.child.kill("SIGCONT");
    await proc?.stop("SIGKILL");
    p.frozen = false;
  }

  private async end(p: Part): Promise<void> {
    const proc = p.proc;
    p.proc = undefined;
    await proc?.stop().catch(() => undefined);
  }

  freeze(p: Part): void {
    p.proc?.child.kill("SIGSTOP");
    p.frozen = true;
  }

  thaw(p: Part): void {
    p.proc?.child.kill("SIGCONT");
    p.frozen = false;
  }

  /** The VMM pids an agent's data dir records, by VM id. */
  vmmPids(a: AgentPart): Map<string, number> {
    return vmmPidsIn(a.dataDir);
  }

  /**
   * One HTTP call through a replica that answers: replicas are tried in turn (a killed or frozen
   * one is skipped), as a load balancer in front of them would.
   */
  async call(method: string, path: string, body?: unknown): Promise<HttpAnswer> {
    let lastErr: unknown;
    for (let i = 0; i < this.apis.length; i++) {
      const a = this.apis[(this.next++ + i) % this.apis.length]!;
      if (!a.proc || a.frozen) continue;
      try {
        const res = await fetch(`http://127.0.0.1:${a.port}${path}`, {
          method,
          headers: {
            authorization: `Bearer ${this.operatorToken}`,
            ...(body !== undefined ? { "content-type": "application/json" } : {}),
          },
          body: body !== undefined ? JSON.stringify(body) : undefined,
          signal: AbortSignal.timeout(15_000),
        });
        const text = await res.text();
        let parsed: unknown = text;
        try {
          parsed = text ? JSON.parse(text) : undefined;
        } catch {
          // not JSON
        }
        return { status: res.status, body: parsed, via: a.name };
      } catch (err) {
        lastErr = err;
      }
    }
    throw new Error(`no API replica answered ${method} ${path}: ${String(lastErr)}`);
  }

  apiUrl(): string {
    const a = this.apis.find((x) => x.proc && !x.frozen) ?? this.apis[0]!;
    return `http://127.0.0.1:${a.port}`;
  }

  async stop(): Promise<void> {
    for (const a of this.agents) if (a.frozen) this.thaw(a);
    for (const a of this.agents) await this.end(a);
    for (const a of this.agents) for (const pid of vmmPidsIn(a.dataDir).values()) killQuietly(pid);
    for (const a of this.apis) await this.end(a);
    await this.stopPostgres().catch(() => undefined);
    await this.stopRedis().catch(() => undefined);
    this.tmp.remove();
  }
}

export function killQuietly(pid: number, signal: NodeJS.Signals = "SIGKILL"): void {
  try {
    process.kill(pid, signal);
  } catch {
    // already gone
  }
}

function vmmPidsIn(dataDir: string): Map<string, number> {
  const out = new Map<string, number>();
  const vms = join(dataDir, "vms");
  if (!existsSync(vms)) return out;
  for (const id of readdirSync(vms)) {
    try {
      const pid = Number.parseInt(readFileSync(join(vms, id, "vmm.pid"), "utf8"), 10);
      if (pid > 0) out.set(id, pid);
    } catch {
      // being created or removed
    }
  }
  return out;
}

/**
 * A run that died (killed, out of memory) left its VMMs running: they are detached from their
 * agents by design. Before starting, end those of regions whose runner is gone, and their dirs.
 */
function sweepCrashedRegions(): void {
  for (const name of readdirSync(tmpdir()).filter((n) => n.startsWith("skiff-chaos-"))) {
    const dir = join(tmpdir(), name);
    let owner = 0;
    try {
      owner = Number.parseInt(readFileSync(join(dir, "chaos.pid"), "utf8"), 10);
    } catch {
      continue; // not a region, or one still starting
    }
    if (owner > 0 && processAlive(owner)) continue;
    for (const agent of readdirSync(dir).filter((n) => n.startsWith("agent-"))) {
      for (const pid of vmmPidsIn(join(dir, agent)).values()) {
        // Only a VMM of that region: a pid file outlives its process, and pids are reused.
        if (processArgv(pid).some((a) => a.includes(dir))) killQuietly(pid);
      }
    }
    rmSync(dir, { recursive: true, force: true });
  }
}
