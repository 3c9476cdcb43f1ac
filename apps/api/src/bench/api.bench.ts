#!/usr/bin/env -S pnpm exec tsx
/**
 * Control-plane benchmarks (`pnpm bench` in apps/api; not a timed test):
 *   1. placement decision over 1,000 nodes and 10,000 VPSes: the pure algorithm, and the whole
 *      decision as the worker makes it (load query + filters/weighers + reservation, in one
 *      transaction under the placement lock) on PostgreSQL with simulated rows;
 *   2. API throughput and latency of the lists (plans, VPSes, nodes) against /healthz, over real HTTP
 *      with 1,000 VPSes on 100 nodes;
 *   3. create → running latency (p50/p99) with the API process, its workers and 3 real node agents
 *      (skip with BENCH_SKIP_CLUSTER=1).
 * BENCH_ONLY=placement|list|cluster runs one of them. BENCH_PROFILE=<dir> writes a CPU profile of the
 * API under each list route's load, one per slice (`<dir>/<route>.<slice>.cpuprofile`).
 */
import { randomUUID } from "node:crypto";
import { writeFileSync } from "node:fs";
import { Session } from "node:inspector/promises";
import { join } from "node:path";
import { performance } from "node:perf_hooks";
import { createLogger } from "@skiff/common";
import { hashToken, newToken, tokenPrefix } from "../auth/tokens.js";
import { DEFAULT_POLICY, type NodeLoad, place } from "../domain/placement.js";
import { nodeLoads } from "../services/capacity.js";
import { startHarness } from "../test-support/harness.js";
import { placeVps } from "../workers/provision.js";
import { loader } from "./load.js";

const MiB = 2 ** 20;
const GiB = 2 ** 30;

function pct(sorted: number[], p: number): number {
  return sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))]!;
}
function summary(samples: number[]): string {
  const s = [...samples].sort((a, b) => a - b);
  return `p50 ${pct(s, 50).toFixed(2)} ms, p99 ${pct(s, 99).toFixed(2)} ms, max ${s[s.length - 1]!.toFixed(2)} ms (n=${s.length})`;
}

async function benchPlacement(): Promise<void> {
  // Pure algorithm over 1,000 simulated node loads.
  const loads: NodeLoad[] = Array.from({ length: 1000 }, (_, i) => ({
    id: `n${i}`,
    name: `node-${String(i).padStart(4, "0")}`,
    status: i % 97 === 0 ? "unreachable" : "ready",
    maintenance: i % 101 === 0,
    cpus: 16,
    memoryBytes: 64 * GiB,
    diskBytes: 2000 * GiB,
    reserved: { vpsCount: 10, vcpus: 10, cpuShare: 1000, memoryBytes: (i % 50) * GiB, diskBytes: 100 * GiB },
    groupMembers: i % 7 === 0 ? 1 : 0,
  }));
  const req = {
    vcpus: 2,
    memoryBytes: 4 * GiB,
    diskBytes: 40 * GiB,
    cpuShare: 200,
    group: { policy: "anti_affinity" as const, strict: true, placedMembers: 143 },
  };
  for (let i = 0; i < 200; i++) place(loads, req);
  const n = 2000;
  const t0 = performance.now();
  for (let i = 0; i < n; i++) place(loads, req);
  const perDecision = (performance.now() - t0) / n;
  console.log(`placement (pure), 1,000 nodes: ${(perDecision * 1000).toFixed(1)} µs per decision`);

  // The worker's whole decision on PostgreSQL: 1,000 nodes, 10,000 placed VPSes.
  const h = await startHarness();
  try {
    const project = h.defaultProjectId;
    const plan = await h.db.plan.findFirstOrThrow({ where: { name: "small" } });
    const image = await h.db.image.findFirstOrThrow({ where: { isDefault: true } });
    await h.db.$executeRawUnsafe(`
      INSERT INTO nodes (id, name, grpc_address, cpus, memory_bytes, disk_bytes, status, last_heartbeat_at, updated_at)
      SELECT gen_random_uuid(), 'node-' || lpad(g::text, 4, '0'), '127.0.0.1:1', 16, ${64 * GiB}, ${2000 * GiB},
             'ready', now(), now()
      FROM generate_series(1, 1000) g`);
    await h.db.$executeRawUnsafe(`
      INSERT INTO vps (id, project_id, name, plan_id, image_id, node_id, state, epoch, vcpus, memory_bytes,
                       disk_bytes, cpu_share, updated_at)
      SELECT gen_random_uuid(), '${project}', 'sim-' || g, '${plan.id}', '${image.id}',
             (SELECT id FROM nodes ORDER BY name OFFSET (g % 1000) LIMIT 1), 'running', 1, 1, ${64 * MiB},
             ${128 * MiB}, 50, now()
      FROM generate_series(1, 10000) g`);
    await h.db.$executeRawUnsafe(`ANALYZE`);
    const ctx = { db: h.db, agents: h.agents, policy: DEFAULT_POLICY, log: createLogger("bench", "silent") };

    const queryTimes: number[] = [];
    for (let i = 0; i < 30; i++) {
      const t = performance.now();
      await nodeLoads(h.db);
      queryTimes.push(performance.now() - t);
    }
    console.log(`node load query (1,000 nodes, 10,000 VPSes): ${summary(queryTimes.slice(5))}`);

    const decisions: number[] = [];
    for (let i = 0; i < 50; i++) {
      const v = await h.db.vps.create({
        data: {
          projectId: project,
          name: `bench-${i}`,
          planId: plan.id,
          imageId: image.id,
          vcpus: 1,
          memoryBytes: BigInt(64 * MiB),
          diskBytes: BigInt(128 * MiB),
          cpuShare: 50,
          action: "create",
          actionId: randomUUID(),
        },
      });
      const t = performance.now();
      const placed = await placeVps(ctx, v, { vpsId: v.id, actionId: v.actionId! });
      decisions.push(performance.now() - t);
      if (!placed?.nodeId) throw new Error("not placed");
    }
    console.log(`placement decision incl. reservation (worker path): ${summary(decisions.slice(5))}`);
  } finally {
    await h.close();
  }
}

/**
 * List throughput and latency over real HTTP: 1,000 VPSes over 100 nodes, 100 operator tokens
 * taken in turn (every request checks a token and passes the rate limiter, none is refused), the
 * load from a child process. /healthz in the same run is the ceiling of the HTTP stack itself.
 */
async function benchList(): Promise<void> {
  const h = await startHarness();
  try {
    const project = h.defaultProjectId;
    const plan = await h.db.plan.findFirstOrThrow({ where: { name: "small" } });
    const image = await h.db.image.findFirstOrThrow({ where: { isDefault: true } });
    await h.db.$executeRawUnsafe(`
      INSERT INTO nodes (id, name, grpc_address, cpus, memory_bytes, disk_bytes, status, last_heartbeat_at, updated_at)
      SELECT gen_random_uuid(), 'node-' || lpad(g::text, 3, '0'), '127.0.0.1:1', 16, ${64 * GiB}, ${2000 * GiB},
             'ready', now(), now()
      FROM generate_series(1, 100) g`);
    await h.db.$executeRawUnsafe(`
      INSERT INTO vps (id, project_id, name, plan_id, image_id, node_id, state, epoch, vcpus, memory_bytes,
                       disk_bytes, cpu_share, updated_at)
      SELECT gen_random_uuid(), '${project}', 'vps-' || g, '${plan.id}', '${image.id}',
             (SELECT id FROM nodes ORDER BY name OFFSET (g % 100) LIMIT 1), 'running', 1, 1, ${64 * MiB},
             ${128 * MiB}, 50, now()
      FROM generate_series(1, 1000) g`);
    await h.db.$executeRawUnsafe(`ANALYZE`);
    const tokens = Array.from({ length: 100 }, () => newToken("operator"));
    await h.db.apiToken.createMany({
      data: tokens.map((t, i) => ({
        name: `bench-${i}`,
        prefix: tokenPrefix(t),
        hash: hashToken(t),
        scope: "operator",
      })),
    });
    const address = await h.app.listen({ host: "127.0.0.1", port: 0 });
    const durationMs = Number(process.env.BENCH_LIST_MS ?? 8000);
    const connections = 16;
    // The node list again while the nodes heartbeat, as 100 agents do every 2 s: each heartbeat
    // changes the node list, so its pages are read again after each (their writes are in the API CPU).
    const WITH_HEARTBEATS = " (50 heartbeats/s)";
    const paths = ["/healthz", "/v1/plans", "/v1/vps?limit=50", "/v1/nodes", `/v1/nodes${WITH_HEARTBEATS}`];
    const spec = (path: string) => ({
      url: `${address}${path.replace(WITH_HEARTBEATS, "")}`,
      connections,
      tokens: path === "/healthz" ? [] : tokens,
    });
    const nodeIds = (await h.db.node.findMany({ select: { id: true } })).map((n) => n.id);
    const heartbeats = () => {
      let i = 0;
      const timer = setInterval(() => {
        const id = nodeIds[i++ % nodeIds.length]!;
        void h.db.$executeRaw`
          UPDATE nodes SET last_heartbeat_at = now(), cpu_percent = ${i % 100} WHERE id = ${id}::uuid`;
      }, 20);
      return () => clearInterval(timer);
    };
    const gen = loader();
    const profiler = await routeProfiler(process.env.BENCH_PROFILE);
    for (const path of paths) await gen.run({ ...spec(path), durationMs: 1000 }); // warm-up: JIT, caches, pool
    // The routes take turns in short slices, so a change in the machine's load (it is shared)
    // falls on all of them alike and the ratios to /healthz stay comparable.
    const rounds = 4;
    const runs = new Map(
      paths.map((p) => [p, { latencies: [] as number[], elapsedMs: 0, errors: 0, cpuUs: 0 }]),
    );
    for (let round = 0; round < rounds; round++) {
      for (const path of paths) {
        const stopHeartbeats = path.endsWith(WITH_HEARTBEATS) ? heartbeats() : undefined;
        // Unmeasured, the slice's first quarter second: the tokens have been idle for the slice
        // before, as they never are under a steady load, and their cache entries have ended (the
        // first request of each token would wait for its lookup, ~1% of a slice's requests).
        await gen.run({ ...spec(path), durationMs: 250 });
        await profiler?.start();
        const cpu0 = process.cpuUsage();
        const r = await gen.run({ ...spec(path), durationMs: durationMs / rounds });
        const cpu = process.cpuUsage(cpu0);
        stopHeartbeats?.();
        await profiler?.stop(path);
        const run = runs.get(path)!;
        for (const l of r.latenciesMs) run.latencies.push(l); // not a spread: long runs overflow the stack
        run.elapsedMs += r.elapsedMs;
        run.errors += r.errors;
        run.cpuUs += cpu.user + cpu.system;
      }
    }
    gen.close();
    profiler?.close();
    let healthz = 0;
    for (const [path, run] of runs) {
      const lat = run.latencies.sort((a, b) => a - b);
      const reqPerSec = lat.length / (run.elapsedMs / 1000);
      // The API's own CPU per request (this process: the load runs in another), steadier than
      // req/s on a shared machine; PostgreSQL's and Redis's share is not in it.
      const cpuMs = run.cpuUs / 1000 / lat.length;
      if (path === "/healthz") healthz = reqPerSec;
      const ratio = path === "/healthz" ? "" : `, ${((100 * reqPerSec) / healthz).toFixed(0)}% of /healthz`;
      console.log(
        `GET ${path} (1,000 VPSes, 100 nodes, ${connections} connections): ${reqPerSec.toFixed(0)} req/s, ` +
          `p50 ${pct(lat, 50).toFixed(2)} ms, p99 ${pct(lat, 99).toFixed(2)} ms, max ${lat[lat.length - 1]!.toFixed(1)} ms, ` +
          `API CPU ${cpuMs.toFixed(2)} ms/request, ${run.errors} errors${ratio}`,
      );
    }
  } finally {
    await h.close();
  }
}

/** The inspector's CPU profiler around each slice of a route's load: `<dir>/<route>.<slice>.cpuprofile`. */
async function routeProfiler(dir: string | undefined) {
  if (!dir) return undefined;
  const session = new Session();
  session.connect();
  await session.post("Profiler.enable");
  const slices = new Map<string, number>();
  return {
    start: () => session.post("Profiler.start"),
    async stop(path: string) {
      const { profile } = await session.post("Profiler.stop");
      const i = slices.get(path) ?? 0;
      slices.set(path, i + 1);
      const name = path.replace(/^\//, "").replace(/[^a-z0-9]+/gi, "_");
      writeFileSync(join(dir, `${name}.${i}.cpuprofile`), JSON.stringify(profile));
    },
    close: () => session.disconnect(),
  };
}

async function benchCreateToRunning(): Promise<void> {
  const { startCluster, writeEchoFirmware, waitFor } = await import("../../../../tests/e2e/api-cluster.js");
  const c = await startCluster({ agents: 3 });
  try {
    const kernelPath = await writeEchoFirmware(c.dir);
    await c.call("POST", "/v1/images", { name: "echo", bootMode: "firmware", kernelPath });
    await c.call("POST", "/v1/plans", {
      name: "fw",
      vcpus: 1,
      memoryBytes: 1 << 20,
      diskBytes: 0,
      cpuShare: 10,
    });
    const one = async (name: string) => {
      const t = performance.now();
      const r = await c.call("POST", "/v1/vps", { name, plan: "fw", image: "echo" });
      await waitFor(
        `${name} running`,
        async () => {
          const v = (await c.call("GET", `/v1/vps/${r.body.id}`)).body;
          if (v.state === "error") throw new Error(v.stateReason);
          return v.state === "running";
        },
        120_000,
      );
      return performance.now() - t;
    };
    const sequential: number[] = [];
    for (let i = 0; i < 20; i++) sequential.push(await one(`seq-${i}`));
    console.log(`create → running, one at a time (3 agents, polled every 50 ms): ${summary(sequential)}`);
    const t = performance.now();
    const burst = await Promise.all(Array.from({ length: 20 }, (_, i) => one(`burst-${i}`)));
    console.log(
      `create → running, 20 at once: ${summary(burst)}; all 20 running after ${(performance.now() - t).toFixed(0)} ms`,
    );
  } finally {
    await c.stop();
  }
}

console.log(`Skiff API benchmarks, ${new Date().toISOString()}, Node ${process.version}`);
const only = process.env.BENCH_ONLY; // "placement", "list" or "cluster"
if (!only || only === "placement") await benchPlacement();
if (!only || only === "list") await benchList();
if (only && only !== "cluster") process.exit(0);
if (!process.env.BENCH_SKIP_CLUSTER) await benchCreateToRunning();
process.exit(0);
