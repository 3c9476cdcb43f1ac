import { performance } from "node:perf_hooks";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { type App, buildApp } from "../app.js";
import { createDb, type Db } from "../db/client.js";
import { AGENT_TOKEN, type Harness, startHarness } from "../test-support/harness.js";
import { LIST_MAX_AGE_MS } from "./list-freshness.js";
import { PageCache, RecentRead } from "./page-cache.js";

/** A promise settled by the test. */
function deferred<T>() {
  let resolve!: (v: T) => void;
  let reject!: (e: Error) => void;
  const promise = new Promise<T>((res, rej) => {
    resolve = res;
    reject = rej;
  });
  return { promise, resolve, reject };
}

const flush = () => new Promise<void>((r) => setImmediate(r));

describe("RecentRead", () => {
  /** A RecentRead of maxAge 10 over reads the test settles, on a clock the test moves. */
  function recent() {
    const clock = { now: 0 };
    const reads: ReturnType<typeof deferred<number>>[] = [];
    const shared = new RecentRead(
      () => {
        const d = deferred<number>();
        reads.push(d);
        return d.promise;
      },
      10,
      () => clock.now,
    );
    return { clock, reads, shared };
  }

  it("reuses a read younger than its max age, starts the next one behind the callers at half of it", async () => {
    const { clock, reads, shared } = recent();
    const first = shared.next();
    const joined = shared.next(); // same instant: the running read is young enough
    expect(reads).toHaveLength(1);
    reads[0]!.resolve(1);
    expect([await first, await joined]).toEqual([1, 1]);
    clock.now = 4;
    expect(await shared.next()).toBe(1);
    expect(reads).toHaveLength(1);
    clock.now = 6; // half its age: answered at once, and the next read starts
    expect(await shared.next()).toBe(1);
    expect(reads).toHaveLength(2);
    clock.now = 8;
    expect(await shared.next()).toBe(1); // one read behind the callers at a time
    expect(reads).toHaveLength(2);
    reads[1]!.resolve(2);
    await flush();
    clock.now = 12;
    expect(await shared.next()).toBe(2);
  });

  it("never answers with a read started its max age or more before the call", async () => {
    const { clock, reads, shared } = recent();
    const first = shared.next();
    reads[0]!.resolve(1);
    await first;
    clock.now = 6;
    void shared.next(); // starts read 2 at 6, which stays pending
    clock.now = 10;
    const answers: number[] = [];
    const late = shared.next().then((v) => answers.push(v)); // read 1 is too old: waits for read 2
    await flush();
    expect(answers).toEqual([]);
    clock.now = 16; // read 2 too is too old now: these wait for the next, one read for both
    const later = Promise.all([shared.next(), shared.next()]);
    expect(reads).toHaveLength(2); // one read at a time
    reads[1]!.resolve(2);
    await late;
    expect(answers).toEqual([2]);
    await flush();
    expect(reads).toHaveLength(3);
    reads[2]!.resolve(3);
    expect(await later).toEqual([3, 3]);
  });

  it("keeps no failed read", async () => {
    const { reads, shared } = recent();
    const first = shared.next();
    reads[0]!.reject(new Error("database gone"));
    await expect(first).rejects.toThrow("database gone");
    const second = shared.next();
    expect(reads).toHaveLength(2);
    reads[1]!.resolve(7);
    expect(await second).toBe(7);
  });
});

describe("PageCache", () => {
  /** A cache over a version the test sets, counting the page reads per key. */
  function cache(maxBytes?: number) {
    const state = { version: "1", reads: new Map<string, number>() };
    const pages = new PageCache(async () => state.version, maxBytes, 0); // a version read per call
    const get = (key: string, body = key) =>
      pages.get(key, async () => {
        state.reads.set(key, (state.reads.get(key) ?? 0) + 1);
        return Buffer.from(body);
      });
    return { state, pages, get };
  }

  it("reads a page again only once the list's version moved", async () => {
    const { state, get } = cache();
    expect((await get("a", "page a")).toString()).toBe("page a");
    expect((await get("a", "other")).toString()).toBe("page a");
    expect(state.reads.get("a")).toBe(1);
    state.version = "2";
    expect((await get("a", "page a2")).toString()).toBe("page a2");
    expect(state.reads.get("a")).toBe(2);
  });

  it("has concurrent requests for a page wait for one read, and keeps no failed read", async () => {
    const { pages } = cache();
    const read = deferred<Buffer>();
    let reads = 0;
    const slow = () => {
      reads++;
      return read.promise;
    };
    const both = Promise.all([pages.get("k", slow), pages.get("k", slow)]);
    await flush();
    read.reject(new Error("query failed"));
    await expect(both).rejects.toThrow("query failed");
    expect(reads).toBe(1);
    expect((await pages.get("k", async () => Buffer.from("ok"))).toString()).toBe("ok");
  });

  it("drops the least recently used pages past its size", async () => {
    const { state, get } = cache(10);
    await get("a", "aaaa");
    await get("b", "bbbb");
    await get("a", "aaaa"); // a is now more recent than b
    await get("c", "cccc"); // 12 bytes: b goes
    await get("a");
    await get("c");
    await get("b", "bbbb");
    expect(Object.fromEntries(state.reads)).toEqual({ a: 1, b: 2, c: 1 });
  });
});

describe("lists kept per replica", () => {
  let h: Harness;
  let other: { app: App; db: Db };
  const listVersions = async () =>
    (
      await h.db.$queryRaw<{ vps: bigint; nodes: bigint }[]>`
        SELECT sum(vps)::bigint AS vps, sum(nodes)::bigint AS nodes FROM list_versions`
    )[0]!;
  /** GET through the other replica, as an operator. */
  const get = async (url: string) => {
    const r = await other.app.inject({
      method: "GET",
      url,
      headers: { authorization: `Bearer ${h.operatorToken}` },
    });
    expect(r.statusCode).toBe(200);
    return r.json();
  };

  beforeAll(async () => {
    h = await startHarness();
    // A second API process over the same database, with its own connections and its own pages.
    const db = createDb(h.services.postgres.url, { max: 2 });
    other = { app: await buildApp({ ...h.app.deps, db }), db };
  });
  afterAll(async () => {
    await other?.app.close();
    await other?.db.$disconnect();
    await h?.close();
  });

  /** Past the age a list may have: every change committed before is in the next list. */
  const pastMaxAge = async () => {
    const until = performance.now() + LIST_MAX_AGE_MS;
    while (performance.now() < until) await new Promise((r) => setTimeout(r, 1));
  };

  it("answer a write through any replica at once, and a worker's within the lists' max age", async () => {
    const node = async (name: string) =>
      (
        await h.call(AGENT_TOKEN, "POST", "/v1/nodes/register", {
          name,
          grpcAddress: "127.0.0.1:1",
          capacity: { cpus: 4, memoryBytes: 2 ** 32, diskBytes: 2 ** 36 },
          labels: {},
          agentVersion: "test",
          vms: [],
        })
      ).body.nodeId as string;
    const a = await node("pc-a");
    const b = await node("pc-b");
    const plan = await h.db.plan.findFirstOrThrow({ where: { name: "nano" } });
    const image = await h.db.image.findFirstOrThrow({ where: { isDefault: true } });
    const size = {
      vcpus: plan.vcpus,
      memoryBytes: plan.memoryBytes,
      diskBytes: plan.diskBytes,
      cpuShare: plan.cpuShare,
    };
    const v = await h.db.vps.create({
      data: {
        projectId: h.defaultProjectId,
        name: "pc-1",
        planId: plan.id,
        imageId: image.id,
        nodeId: a,
        state: "running",
        ...size,
      },
    });
    const reserved = async () =>
      Object.fromEntries(
        ((await get("/v1/nodes")).items as { name: string; reserved: { vpsCount: number } }[]).map((n) => [
          n.name,
          n.reserved.vpsCount,
        ]),
      );
    const states = async () => ((await get("/v1/vps")).items as { state: string }[]).map((x) => x.state);
    expect(await states()).toEqual(["running"]);
    expect(await reserved()).toEqual({ "pc-a": 1, "pc-b": 0 });

    // A worker's write (this replica's own database client), then the first replica's API, whose
    // answer to the write is held until the other replica's next list reads the counter afresh.
    await h.db.vps.update({ where: { id: v.id }, data: { state: "stopped" } });
    await pastMaxAge();
    expect(await states()).toEqual(["stopped"]);
    expect((await get("/v1/nodes?maintenance=true")).items).toEqual([]); // a counter read just now
    expect((await h.call(h.operatorToken, "POST", `/v1/nodes/${b}/drain`)).status).toBe(200);
    expect(
      ((await get("/v1/nodes?maintenance=true")).items as { name: string }[]).map((n) => n.name),
    ).toEqual(["pc-b"]);

    // A migration in flight reserves on its target; its rounds' progress changes no list.
    const m = await h.db.migration.create({
      data: { vpsId: v.id, sourceNodeId: a, targetNodeId: b, sourceEpoch: 1, targetEpoch: 2 },
    });
    await pastMaxAge();
    expect(await reserved()).toEqual({ "pc-a": 1, "pc-b": 1 });
    const before = await listVersions();
    await h.db.migration.update({ where: { id: m.id }, data: { rounds: [{ round: 0 }] } });
    expect(await listVersions()).toEqual(before);
    await h.db.migration.update({ where: { id: m.id }, data: { finishedAt: new Date() } });
    await pastMaxAge();
    expect(await reserved()).toEqual({ "pc-a": 1, "pc-b": 0 });

    // One bump per committed transaction, however many rows it changed; none for a rollback.
    const start = await listVersions();
    await h.db.$transaction([
      h.db.vps.update({ where: { id: v.id }, data: { stateReason: "one" } }),
      h.db.vps.update({ where: { id: v.id }, data: { stateReason: "two" } }),
      h.db.node.updateMany({ data: { cpuPercent: 5 } }),
    ]);
    await expect(
      h.db.$transaction(async (tx) => {
        await tx.vps.update({ where: { id: v.id }, data: { stateReason: "rolled back" } });
        throw new Error("abort");
      }),
    ).rejects.toThrow("abort");
    expect(await listVersions()).toEqual({ vps: start.vps + 1n, nodes: start.nodes + 1n });
  });
});
