/**
 * A chaos run: a real region (two API replicas, PostgreSQL, Redis, four node agents), a dozen
 * Linux VPSes checking themselves, and a seeded schedule of live migrations (operator, drain,
 * balancer) and faults (kill -9 of an agent, a VMM, an API replica; Redis and PostgreSQL restarted;
 * an agent frozen past its heartbeat deadline). Invariants are checked all along; the report says
 * what happened and every violation with its evidence.
 */
import { existsSync, readdirSync } from "node:fs";
import { join } from "node:path";
import { setTimeout as sleep } from "node:timers/promises";
import { processAlive, rng } from "@skiff/devkit";
import {
  agentsHolding,
  closeClients,
  lookAtAgents,
  lookAtDatabase,
  nodeNamesById,
  type Placed,
  type Running,
} from "./observe.js";
import { type AgentPart, killQuietly, type Part, Region } from "./region.js";
import { type FaultKind, planFaults } from "./schedule.js";
import { cutConnections } from "./sockets.js";
import { GuestWatch, type Loss } from "./workload.js";

export interface ChaosOptions {
  readonly seed: number;
  readonly minutes: number;
  readonly vpses?: number;
  /**
   * Go on past `minutes` (up to three times as long) until this many faults were injected: on a
   * loaded host each fault and its recovery take longer, and a short run would meet fewer.
   */
  readonly minFaults?: number;
  readonly log?: (line: string) => void;
}

export interface Violation {
  readonly kind: string;
  readonly vpsId?: string;
  readonly evidence: string;
  readonly atMs: number;
}

export interface ChaosReport {
  readonly seed: number;
  readonly minutes: number;
  readonly vpses: number;
  /** Live migrations the control plane attempted (every trigger). */
  readonly migrations: number;
  readonly migrationsByTrigger: Record<string, number>;
  readonly outcomes: Record<string, number>;
  readonly faults: Record<string, number>;
  /** How long the region took to be whole again after each fault, by kind. */
  readonly recoveryMs: { readonly p50: number; readonly p99: number; readonly max: number };
  /** VPSes cold-started by recovery (their node declared dead): memory gone by design, disk kept. */
  readonly coldStarts: number;
  readonly lostVps: number;
  readonly doubledVps: number;
  readonly guestStateLosses: number;
  readonly violations: Violation[];
}

const FAULT_EVERY_MS = 9_000;
/** A node silent this long is unreachable (fenced a second later): above an agent's restart, below a freeze. */
const NODE_DEAD_AFTER_MS = 8_000;
/** A VPS the database places may be missing from its node this long (a restart, a recovery). */
const ABSENCE_GRACE_MS = 45_000;
/** Operator migrations kept in flight so the region stays busy. */
const OPERATOR_MIGRATIONS = 3;

export async function runChaos(opts: ChaosOptions): Promise<ChaosReport> {
  const log = opts.log ?? (() => undefined);
  const random = rng(opts.seed ^ 0x5eed);
  const vpsCount = opts.vpses ?? 12;
  const region = new Region({ agents: 4, apis: 2, nodeDeadAfterMs: NODE_DEAD_AFTER_MS });
  const violations: Violation[] = [];
  const faults: Record<string, number> = {};
  const recoveries: number[] = [];
  const watches = new Map<string, GuestWatch>();
  const tokens = new Map<string, string>();
  /** [start, end] of declared outages: a 5xx inside one (plus a few seconds) is expected. */
  const outages: [number, number][] = [];
  const t0 = Date.now();
  const at = () => Date.now() - t0;
  const violate = (kind: string, evidence: string, vpsId?: string) => {
    violations.push({ kind, evidence, atMs: at(), ...(vpsId ? { vpsId } : {}) });
    log(`VIOLATION ${kind}${vpsId ? ` ${vpsId}` : ""}: ${evidence}`);
  };

  // Every call the run makes: a 5xx outside a declared outage is a violation.
  const call = async (method: string, path: string, body?: unknown) => {
    const r = await region.call(method, path, body);
    if (r.status >= 500) {
      const now = Date.now();
      const inOutage = outages.some(([s, e]) => now >= s && now <= (e || now) + 5_000);
      if (!inOutage)
        violate("http-5xx", `${method} ${path} via ${r.via}: ${r.status} ${JSON.stringify(r.body)}`);
    }
    return r;
  };
  /** For evidence: a VPS's migrations and its last events, as the control plane recorded them. */
  const historyOf = async (vpsId: string) => {
    try {
      const ms = (await listAll(call, "/v1/migrations"))
        .filter((m) => m.vpsId === vpsId)
        .map(
          (m) =>
            `${m.id} ${m.trigger} ${m.state} epoch ${m.sourceEpoch}->${m.targetEpoch} ${m.errorCode ?? ""}`,
        );
      const es = (await listAll(call, `/v1/events?resourceType=vps&resourceId=${vpsId}`))
        .slice(-10)
        .map((e) => `${e.at} ${e.type} ${e.message ?? ""}`);
      return `migrations: ${ms.join(" | ")}; events: ${es.join(" | ")}`;
    } catch (err) {
      return `history unavailable: ${String(err)}`;
    }
  };
  const outage = async <T>(fn: () => Promise<T>): Promise<T> => {
    const w: [number, number] = [Date.now(), 0];
    outages.push(w);
    try {
      return await fn();
    } finally {
      w[1] = Date.now();
    }
  };

  // A part that dies on its own is a violation of its own; then it is started again, as its
  // supervisor (systemd) would, so one crash does not read as every later check failing.
  region.onDeath = (p, how, lastOutput) => {
    violate("part-died", `${p.name} ended by itself (${how}); its last output: ${lastOutput}`);
    const again = "dataDir" in p ? Promise.resolve(region.startAgent(p)) : region.startApi(p);
    again.catch((e) => violate("part-restart-failed", `${p.name}: ${String(e)}`));
  };
  await region.start();
  log(
    `region up in ${region.dir} (${at()} ms): ${region.apis.length} API replicas, ${region.agents.length} agents`,
  );
  let nodeNames = await nodeNamesById(region);
  try {
    await call("PUT", "/v1/balancer", { enabled: true });

    // --- VPSes with self-checking workloads ---------------------------------------------------
    const createVps = async (name: string): Promise<string> => {
      const r = await call("POST", "/v1/vps", { name, plan: "small" });
      if (r.status !== 202) throw new Error(`create ${name}: ${r.status} ${JSON.stringify(r.body)}`);
      return r.body.id as string;
    };
    const arm = async (id: string) => {
      const w = new GuestWatch(id, () => region.apiUrl(), region.operatorToken);
      watches.set(id, w);
      w.open();
      await until(`${id} shell`, () => w.promptSince(0), 240_000).catch(async (e) => {
        throw new Error(`${String(e)}; ${w.describe()}; ${await historyOf(id)}`);
      });
      const token = `chaos-${opts.seed}-${id.slice(0, 8)}`;
      tokens.set(id, token);
      // Keys sent as a migration ends the console's connection are lost (a run saw it): typed
      // again only when the shell never echoed them, so the counter never starts twice.
      for (let attempt = 1; ; attempt++) {
        const mark = w.length;
        w.type(`write /data/chaos ${token}\nsync\ncounter &\n`);
        try {
          await until(`${id} counter`, () => w.lines >= 2, 20_000);
          return;
        } catch {
          if (attempt === 3 || w.contains("counter &", mark)) {
            await until(`${id} counter`, () => w.lines >= 2, 40_000).catch((e) => {
              throw new Error(`${String(e)}; ${w.describe()}`);
            });
            return;
          }
        }
      }
    };
    const waitRunning = (id: string) =>
      until(
        `${id} running`,
        async () => {
          const v = (await call("GET", `/v1/vps/${id}`)).body;
          if (v.state === "error") throw new Error(`${id}: ${v.stateReason}`);
          return v.state === "running";
        },
        240_000,
      );
    let serial = 0;
    const ids = await Promise.all(Array.from({ length: vpsCount }, () => createVps(`c${++serial}`)));
    for (const id of ids) await waitRunning(id);
    // Booting a dozen guests at once on two cores is slow: arm them a few at a time.
    for (let i = 0; i < ids.length; i += 4) await Promise.all(ids.slice(i, i + 4).map(arm));
    log(`${ids.length} VPSes running their workloads (${at()} ms)`);

    // --- the chaos phase ------------------------------------------------------------------------
    const durationMs = opts.minutes * 60_000;
    const minFaults = opts.minFaults ?? 0;
    // The same seed gives the same first faults whatever the length: the extension only adds.
    const plan = planFaults(opts.seed, minFaults > 0 ? 3 * durationMs : durationMs, FAULT_EVERY_MS);
    const start = Date.now();
    const pending = new Set<Promise<void>>();
    const track = (p: Promise<void>) => {
      pending.add(p);
      void p.finally(() => pending.delete(p));
    };
    const placed = new Map<string, Placed>();
    const doubledSeen = new Map<string, number>();
    const twoCopies = new Map<string, Running[]>();
    const doubled = new Set<string>();
    const absentSince = new Map<string, number>();
    const lost = new Set<string>();
    /** VPSes whose guest a fault ended on purpose (VMM killed): replaced, not counted as losses. */
    const ended = new Set<string>();
    /** Guests the control plane cold-started on purpose (recovery from shared storage). */
    let coldStarts = 0;

    const refreshPlacement = async () => {
      for (const v of await lookAtDatabase(region, nodeNames)) placed.set(v.id, v);
    };

    /** The exactly-once check, from both sides: the database's placement and each agent's VMs. */
    const checkOnce = async () => {
      const agents = await lookAtAgents(region);
      const byVm = new Map<string, typeof agents.running>();
      for (const r of agents.running) byVm.set(r.vmId, [...(byVm.get(r.vmId) ?? []), r]);
      for (const [vmId, copies] of byVm) {
        if (copies.length < 2) {
          twoCopies.delete(vmId);
          continue;
        }
        // Two agents may both still call it running for a moment (a source being torn down after
        // the commit); two copies whose guests both retired instructions between two reads ran at once.
        const before = twoCopies.get(vmId);
        twoCopies.set(vmId, copies);
        const bothRan =
          before !== undefined &&
          copies.every((c) =>
            before.some((b) => b.node === c.node && b.vmmPid === c.vmmPid && c.instret > b.instret),
          );
        if (bothRan && !doubled.has(vmId)) {
          doubled.add(vmId);
          violate(
            "runs-twice",
            `${JSON.stringify(before)} then ${JSON.stringify(copies)}; ${await historyOf(vmId)}`,
            vmId,
          );
        }
      }
      let db: Placed[];
      try {
        await refreshPlacement();
        db = [...placed.values()];
      } catch {
        return; // the database is away (a declared outage): nothing to compare with
      }
      const now = Date.now();
      for (const v of db) {
        if (v.state !== "running" || !v.nodeId || ended.has(v.id)) {
          absentSince.delete(v.id);
          continue;
        }
        const copies = byVm.get(v.id) ?? [];
        const here = copies.some((c) => c.node === v.nodeId && c.epoch === v.epoch);
        const unseen = agents.unreachable.includes(v.nodeId);
        if (here || unseen) {
          absentSince.delete(v.id);
          continue;
        }
        const since = absentSince.get(v.id) ?? now;
        absentSince.set(v.id, since);
        if (now - since > ABSENCE_GRACE_MS && !lost.has(v.id)) {
          lost.add(v.id);
          violate(
            "placed-not-running",
            `database: running on ${v.nodeId} at epoch ${v.epoch}; agents: ${JSON.stringify(copies)} for ${now - since} ms`,
            v.id,
          );
        }
      }
      // A VM no one placed: running where the database does not put it, at an older epoch, twice in a row.
      for (const r of agents.running) {
        const v = placed.get(r.vmId);
        const stray = !v || v.state === "deleted" || (v.nodeId !== r.node && (v.epoch ?? 0) > r.epoch);
        const key = `stray:${r.vmId}@${r.node}`;
        if (!stray) {
          doubledSeen.delete(key);
          continue;
        }
        const n = (doubledSeen.get(key) ?? 0) + 1;
        doubledSeen.set(key, n);
        if (n === 3)
          violate(
            "stray-vm",
            `${r.node} runs ${r.vmId} at epoch ${r.epoch}; database: ${JSON.stringify(v)}`,
            r.vmId,
          );
      }
    };

    const healthy = async () => {
      const r = await region.call("GET", "/v1/nodes?limit=500").catch(() => undefined);
      return r?.status === 200 && (r.body.items as { status: string }[]).every((n) => n.status === "ready");
    };
    const recovered = async (since: number) => {
      await until("region whole again", healthy, 120_000).catch((e) => violate("no-recovery", String(e)));
      recoveries.push(Date.now() - since);
    };
    const pickOf = <T>(xs: readonly T[], p: number): T | undefined => xs[Math.floor(p * xs.length)];
    /**
     * A migration whose stream runs (pre-copy), with its source and destination VMMs; waited for
     * a while, since most hops take a second or two.
     */
    const streaming = async (p: number) => {
      const vmmOn = (nodeId: string | undefined, vpsId: string) => {
        const a = region.agents.find((x) => x.name === nodeNames.get(nodeId ?? ""));
        return a && region.vmmPids(a).get(vpsId);
      };
      for (const deadline = Date.now() + 15_000; Date.now() < deadline; await sleep(200)) {
        const moving = (await listAll(call, "/v1/migrations")).filter(
          (m) => !m.finishedAt && m.state === "precopy",
        );
        const m = pickOf(moving, p);
        const from = m && vmmOn(m.sourceNodeId, m.vpsId);
        const to = m && vmmOn(m.targetNodeId, m.vpsId);
        if (m && from && to) return { m, from, to };
      }
      return undefined;
    };
    /** A VPS whose VMM a fault killed must show the crash (not run on, not vanish); then it is replaced. */
    const replaceCrashed = async (vpsId: string) => {
      await until(
        `${vpsId} shows the crash`,
        async () => (await call("GET", `/v1/vps/${vpsId}`)).body.state === "error",
        60_000,
      ).catch((e) => violate("crash-not-shown", String(e), vpsId));
      const d = await call("DELETE", `/v1/vps/${vpsId}`);
      if (d.status !== 202) violate("delete-refused", `${d.status} ${JSON.stringify(d.body)}`, vpsId);
      const id = await createVps(`c${++serial}`);
      await waitRunning(id);
      await arm(id);
    };
    const ends = (m: Record<string, string>) =>
      until(
        `migration ${m.id} ends`,
        async () => (await call("GET", `/v1/migrations/${m.id}`)).body.finishedAt != null,
        120_000,
      ).catch((e) => violate("migration-unfinished", String(e), m.vpsId));
    const livePart = <T extends Part>(xs: readonly T[], p: number) =>
      pickOf(
        xs.filter((x) => x.proc && !x.frozen),
        p,
      );

    const inject = async (kind: FaultKind, p: number): Promise<void> => {
      const since = Date.now();
      switch (kind) {
        case "agent-kill": {
          const a = livePart(region.agents, p);
          if (!a) return;
          await region.kill(a);
          await sleep(1000 + p * 3000);
          region.startAgent(a);
          break;
        }
        case "vmm-kill": {
          // Not a VPS that is moving: killing a migration's source after its commit ends the
          // old copy only, which is no crash to show (migration-target-kill covers mid-stream kills).
          const moving = new Set(
            (await listAll(call, "/v1/migrations")).filter((m) => !m.finishedAt).map((m) => m.vpsId),
          );
          const running = (await lookAtAgents(region)).running.filter(
            (r) => !ended.has(r.vmId) && !moving.has(r.vmId),
          );
          const victim = pickOf(running, p);
          if (!victim) return;
          ended.add(victim.vmId);
          watches.get(victim.vmId)?.close();
          process.kill(victim.vmmPid, "SIGKILL");
          await replaceCrashed(victim.vmId);
          break;
        }
        case "api-kill": {
          const a = livePart(region.apis, p);
          if (!a || region.apis.filter((x) => x.proc).length < 2) return;
          await region.kill(a);
          await sleep(1000 + p * 2000);
          await region.startApi(a);
          break;
        }
        case "redis-restart":
          await outage(async () => {
            await region.stopRedis();
            await sleep(1000 + p * 2000);
            await region.startRedis();
          });
          break;
        case "postgres-restart":
          await outage(async () => {
            await region.stopPostgres();
            await sleep(1000 + p * 2000);
            await region.startPostgres();
          });
          break;
        case "agent-freeze": {
          const a = livePart(region.agents, p);
          if (!a) return;
          // Its VPSes may be recovered elsewhere from shared storage: a cold start, not a loss.
          region.freeze(a);
          await sleep(NODE_DEAD_AFTER_MS + 2000 + p * 2000);
          region.thaw(a);
          break;
        }
        case "migration-target-kill": {
          // Mid-stream, the destination's VMM dies: the stream breaks under the source, which must
          // resume its copy (the migration rolls back) while the destination discards its shell.
          const s = await streaming(p);
          if (!s) return;
          killQuietly(s.to);
          await ends(s.m);
          // The kill can land just after the commit: then it killed the VPS itself, a VMM kill.
          const m = (await call("GET", `/v1/migrations/${s.m.id}`)).body;
          if (m.state === "completed") {
            ended.add(s.m.vpsId!);
            watches.get(s.m.vpsId!)?.close();
            await replaceCrashed(s.m.vpsId!);
          }
          break;
        }
        case "stream-cut": {
          // The network drops a migration's stream mid-copy (the kernel aborts the source VMM's
          // connection to the destination's): the source must resume, the destination discard.
          const s = await streaming(p);
          if (!s || cutConnections(s.from, s.to) === 0) return;
          await ends(s.m);
          break;
        }
        case "drain": {
          const a = livePart(region.agents, p);
          if (!a) return;
          const id = [...nodeNames].find(([, n]) => n === a.name)?.[0];
          if (!id) return;
          const r = await call("POST", `/v1/nodes/${id}/drain`);
          if (r.status >= 300) violate("drain-refused", `${r.status} ${JSON.stringify(r.body)}`);
          // Stuck means no progress for 90 s: on a loaded host each move can take tens of seconds.
          let moved = -1;
          let progressAt = Date.now();
          await until(
            `${a.name} drained (no VPS moved off for 90 s)`,
            async () => {
              const d = (await call("GET", `/v1/nodes/${id}/drain`)).body;
              if (d.done === true) return true;
              // Failed attempts are no progress: a VPS that cannot leave keeps the drain stuck.
              const n = d.completed ?? 0;
              if (n !== moved) [moved, progressAt] = [n, Date.now()];
              if (Date.now() - progressAt > 90_000) throw new StuckError();
              return false;
            },
            15 * 60_000,
          ).catch(async (e) => {
            // The evidence: what the drain says is left, moving and blocking it.
            const progress = await call("GET", `/v1/nodes/${id}/drain`).catch(() => undefined);
            const left: string[] = (progress?.body?.next ?? []).map((n: { vpsId: string }) => n.vpsId);
            const held = await agentsHolding(region, left).catch((err) => String(err));
            const histories = await Promise.all(left.map((v) => historyOf(v)));
            violate(
              "drain-stuck",
              `${String(e)}; drain: ${JSON.stringify(progress?.body)}; agents ${JSON.stringify(held)}; ${histories.join("; ")}`,
            );
          });
          await call("POST", `/v1/nodes/${id}/undrain`);
          break;
        }
      }
      faults[kind] = (faults[kind] ?? 0) + 1;
      await recovered(since);
    };

    const operatorMigrations = new Set<string>();
    const keepMigrating = async () => {
      if (operatorMigrations.size >= OPERATOR_MIGRATIONS) return;
      const candidates = [...placed.values()].filter(
        (v) => v.state === "running" && !ended.has(v.id) && !operatorMigrations.has(v.id),
      );
      const v = pickOf(candidates, random());
      if (!v) return;
      const r = await call("POST", `/v1/vps/${v.id}/migrate`, {}).catch(() => undefined);
      if (r?.status !== 202) return;
      operatorMigrations.add(v.id);
      const mid = r.body.id as string;
      track(
        until(
          `migration ${mid}`,
          async () => (await call("GET", `/v1/migrations/${mid}`)).body.finishedAt != null,
          180_000,
        )
          .catch(() => undefined)
          .finally(() => operatorMigrations.delete(v.id)),
      );
    };

    let next = 0;
    let nextHeapLog = 0;
    let faultRunning: Promise<void> | undefined;
    const going = () => {
      const elapsed = Date.now() - start;
      // Counted once injected; those that found nothing to break (no migration in flight) are not.
      const injected = Object.values(faults).reduce((x, y) => x + y, 0);
      return elapsed < durationMs || (injected < minFaults && elapsed < 3 * durationMs);
    };
    while (going()) {
      const due = plan[next];
      if (due && !faultRunning && Date.now() - start >= due.atMs) {
        next++;
        log(`fault ${due.kind} at ${at()} ms`);
        faultRunning = inject(due.kind, due.pick)
          .catch((e) => violate("fault-failed", `${due.kind}: ${String(e)}`))
          .finally(() => {
            faultRunning = undefined;
          });
      }
      if (Date.now() >= nextHeapLog) {
        nextHeapLog = Date.now() + 60_000;
        const m = process.memoryUsage();
        log(
          `${at()} ms: heap ${Math.round(m.heapUsed / 1e6)} MB, rss ${Math.round(m.rss / 1e6)} MB, ` +
            `${watches.size} consoles holding ${[...watches.values()].reduce((a, w) => a + w.held, 0)} chars, ${pending.size} waits`,
        );
      }
      await checkOnce().catch((e) => log(`check skipped: ${String(e)}`));
      await keepMigrating().catch(() => undefined);
      await sleep(1000);
    }
    log(`chaos phase over at ${at()} ms; settling`);

    // --- settle: faults healed, every migration ended, every VPS once where the database says ---
    await faultRunning;
    await Promise.all(pending);
    for (const a of region.agents) if (a.frozen) region.thaw(a);
    for (const a of region.agents) if (!a.proc) region.startAgent(a);
    for (const a of region.apis) if (!a.proc) await region.startApi(a);
    await until("nodes ready", healthy, 120_000).catch((e) => violate("no-recovery", String(e)));
    nodeNames = await nodeNamesById(region);
    await until(
      "migrations ended",
      async () => (await listAll(call, "/v1/migrations")).every((m) => m.finishedAt != null),
      180_000,
    ).catch((e) => violate("migration-unfinished", String(e)));
    let unsettled: Placed[] = [];
    await until(
      "every VPS once, where the database says",
      async () => {
        const now = await lookAtDatabase(region, nodeNames);
        for (const v of now) placed.set(v.id, v);
        const agents = await lookAtAgents(region);
        unsettled = now.filter(
          (v) =>
            !ended.has(v.id) &&
            !(
              v.state === "running" &&
              agents.running.filter((r) => r.vmId === v.id).length === 1 &&
              agents.running.some((r) => r.vmId === v.id && r.node === v.nodeId && r.epoch === v.epoch)
            ),
        );
        return unsettled.length === 0;
      },
      120_000,
    ).catch(async (e) => {
      const ids = unsettled.map((v) => v.id);
      const held = await agentsHolding(region, ids).catch((err) => String(err));
      const histories = await Promise.all(ids.map((id) => historyOf(id).catch(() => "")));
      violate(
        "not-settled",
        `${String(e)}; not settled (database) ${JSON.stringify(unsettled)}; agents ${JSON.stringify(held)}; ${histories.join("; ")}`,
      );
    });

    // The guests: counters go on, all ok; the files written at the start are intact. A counter
    // that started again, or stopped, is excused only by the control plane's own account: the VPS
    // was recovered (cold-started from shared storage after its node was declared dead) since.
    const recoveredSince = async (id: string, t: number) =>
      (await listAll(call, `/v1/events?resourceType=vps&resourceId=${id}&type=vps.recovered`)).some(
        (e) => Date.parse(e.at!) >= t - 5_000,
      );
    const live = [...placed.values()].filter(
      (v) => v.state === "running" && watches.has(v.id) && !ended.has(v.id),
    );
    for (const v of live) {
      const w = watches.get(v.id)!;
      for (const r of w.restarts) {
        if (await recoveredSince(v.id, r.prevLineAt)) coldStarts++;
        else
          w.losses.push({
            vpsId: v.id,
            kind: "counter-restarted",
            evidence: `${r.evidence}; ${await historyOf(v.id)}`,
          });
      }
      const mark = w.lines;
      const goesOn = (from: number) =>
        until(`${v.id} counter goes on`, () => w.lines > from + 2, 30_000).then(
          () => true,
          () => false,
        );
      if (!(await goesOn(mark))) {
        if (await recoveredSince(v.id, w.lastLineAt)) {
          // A cold start took its counter with its memory: start it again and see it run.
          coldStarts++;
          w.coldStarted();
          w.type("counter &\n");
          if (!(await goesOn(0)))
            violate("counter-stopped", `not even after a restart; ${w.describe()}`, v.id);
        } else {
          violate(
            "counter-stopped",
            `no new line after ${mark}; ${w.describe()}; ${await historyOf(v.id)}`,
            v.id,
          );
        }
      }
      const before = w.length;
      w.type(`cat /data/chaos\n`);
      await until(`${v.id} file`, () => w.contains(tokens.get(v.id)!, before), 30_000).catch(() =>
        w.losses.push({
          vpsId: v.id,
          kind: "file-lost",
          evidence: `/data/chaos does not hold ${tokens.get(v.id)}`,
        }),
      );
    }
    const losses: Loss[] = [...watches.values()].flatMap((w) => w.losses);
    for (const l of losses) violate(`guest-${l.kind}`, l.evidence, l.vpsId);

    // --- the tally, then nothing may be left behind ---------------------------------------------
    const migrations = await listAll(call, "/v1/migrations");
    const outcomes: Record<string, number> = {};
    const byTrigger: Record<string, number> = {};
    for (const m of migrations) {
      outcomes[m.state] = (outcomes[m.state] ?? 0) + 1;
      byTrigger[m.trigger] = (byTrigger[m.trigger] ?? 0) + 1;
      if (m.finishedAt && m.state !== "completed" && !m.reason && !m.error)
        violate("migration-without-reason", JSON.stringify(m), m.vpsId);
    }
    await leavesNothing(region, call, violate);
    const sorted = [...recoveries].sort((a, b) => a - b);
    const q = (f: number) => sorted[Math.min(sorted.length - 1, Math.floor(f * sorted.length))] ?? 0;
    return {
      seed: opts.seed,
      minutes: opts.minutes,
      vpses: serial,
      migrations: migrations.length,
      migrationsByTrigger: byTrigger,
      outcomes,
      faults,
      recoveryMs: { p50: q(0.5), p99: q(0.99), max: sorted.at(-1) ?? 0 },
      coldStarts,
      lostVps: lost.size,
      doubledVps: doubled.size,
      guestStateLosses: losses.length,
      violations,
    };
  } finally {
    for (const w of watches.values()) w.close();
    closeClients();
    await region.stop();
  }
}

type Call = Region["call"];

async function listAll(call: Call, path: string): Promise<Record<string, string>[]> {
  const out: Record<string, string>[] = [];
  let cursor: string | null = null;
  do {
    const sep = path.includes("?") ? "&" : "?";
    const r = await call("GET", `${path}${sep}limit=500${cursor ? `&cursor=${cursor}` : ""}`);
    if (r.status !== 200) throw new Error(`GET ${path}: ${r.status}`);
    out.push(...r.body.items);
    cursor = r.body.nextCursor;
  } while (cursor);
  return out;
}

/** Every VPS deleted: no VM, no VMM process, no VM directory, disk or lease may remain. */
async function leavesNothing(
  region: Region,
  call: Call,
  violate: (kind: string, evidence: string, vpsId?: string) => void,
): Promise<void> {
  const vpses = (await listAll(call, "/v1/vps")).filter((v) => v.state !== "deleted");
  const pids = region.agents.flatMap((a) => [...region.vmmPids(a).values()]);
  for (const v of vpses) await call("DELETE", `/v1/vps/${v.id}`);
  const left = () => {
    const out: string[] = [];
    for (const a of region.agents as AgentPart[]) {
      const vms = join(a.dataDir, "vms");
      if (existsSync(vms)) out.push(...readdirSync(vms).map((d) => `${a.name}:vms/${d}`));
    }
    const disks = join(region.sharedDir, "disks");
    if (existsSync(disks)) out.push(...readdirSync(disks).map((d) => `shared:disks/${d}`));
    out.push(...pids.filter(processAlive).map((p) => `vmm pid ${p}`));
    return out;
  };
  await until(
    "every VPS deleted",
    async () => (await listAll(call, "/v1/vps")).every((v) => v.state === "deleted") && left().length === 0,
    120_000,
  ).catch(() => violate("left-behind", left().join(", ") || "VPSes not deleted"));
}

/** Thrown by a check that knows waiting longer is pointless. */
class StuckError extends Error {}

async function until(
  what: string,
  check: () => boolean | Promise<boolean>,
  timeoutMs: number,
): Promise<void> {
  const end = Date.now() + timeoutMs;
  let last: unknown;
  while (Date.now() < end) {
    try {
      if (await check()) return;
    } catch (err) {
      if (err instanceof StuckError) throw new Error(`gave up waiting for ${what}`);
      last = err;
    }
    await sleep(500);
  }
  throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}${last ? ` (${String(last)})` : ""}`);
}
