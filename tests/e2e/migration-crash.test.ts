/**
 * The API process (HTTP and workers) killed -9 while a live migration of a Linux VPS is in
 * stop-and-copy: the guest paused on its source, its last pages on the way. The restarted worker
 * reconstructs the outcome from the agents; exactly one copy runs, where the database says, and
 * the guest's counter goes on with every check ok. (Kills while the destination prepares and
 * mid-transfer are in api-cluster.test.ts.)
 */
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import {
  agentsAgreeWithDatabase,
  built,
  type Cluster,
  openApiConsole,
  startCluster,
  waitFor,
} from "./api-cluster.js";

let c: Cluster;

const COUNTER = /counter (\d+) ([0-9a-f]{8}) (\d+):(\d+) (ok|bad=\d+)/g;
const counterLines = (text: string) =>
  [...text.matchAll(COUNTER)].map((m) => ({ n: Number(m[1]), status: m[5]! }));

describe.skipIf(!built)("a live migration whose API dies in stop-and-copy", () => {
  beforeAll(async () => {
    c = await startCluster({
      agents: 2,
      agentEnv: { SKIFF_AGENT_CPUS: "2" },
      apiEnv: { SKIFF_RATE_LIMIT_PER_MINUTE: "100000" },
    });
  }, 120_000);

  afterAll(async () => {
    await c?.stop();
  }, 60_000);

  it("settles with one copy where the database says, the guest intact", async () => {
    const r = await c.call("POST", "/v1/vps", { name: "mover", plan: "small", node: "node-1" });
    expect(r.status, JSON.stringify(r.body)).toBe(202);
    const before = await waitFor(
      "mover running",
      async () => {
        const v = (await c.call("GET", `/v1/vps/${r.body.id}`)).body;
        if (v.state === "error") throw new Error(v.stateReason);
        return v.state === "running" ? v : undefined;
      },
      120_000,
    );
    const con = await openApiConsole(c, before.id, c.operatorToken);
    await waitFor("the shell", async () => con.text().includes("skiff# ") || undefined, 120_000);
    // A 16 MiB working set rewritten at 20 MiB/s, and the counter checking it.
    con.type("dirty 16 20 &\n");
    await waitFor("dirty runs", async () => con.text().includes("dirty: 16 MiB") || undefined, 30_000);
    con.type("counter &\n");
    await waitFor("counter runs", async () => counterLines(con.text()).length >= 2 || undefined, 60_000);

    // One pre-copy round over an 8 MB/s link: the whole working set is left for stop-and-copy,
    // which then takes about two seconds.
    const m = await c.call("POST", `/v1/vps/${before.id}/migrate`, {
      maxRounds: 1,
      bandwidthBytesPerSec: 8_000_000,
    });
    expect(m.status, JSON.stringify(m.body)).toBe(202);
    await waitFor(
      "stop-and-copy",
      async () => {
        const cur = (await c.call("GET", `/v1/migrations/${m.body.id}`)).body;
        if (cur.finishedAt) throw new Error(`ended before stop-and-copy: ${JSON.stringify(cur)}`);
        return cur.state === "stopcopy" || undefined;
      },
      60_000,
    );
    await c.api.stop("SIGKILL");
    con.close();
    await c.startApi();

    const done = await waitFor(
      "the migration settled after the restart",
      async () => {
        const cur = (await c.call("GET", `/v1/migrations/${m.body.id}`)).body;
        return cur.finishedAt ? cur : undefined;
      },
      180_000,
    );
    expect(["completed", "rolled-back"]).toContain(done.state);
    console.log(`API killed in stop-and-copy: ${done.state} (${done.errorCode ?? "-"}: ${done.error ?? ""})`);
    const after = await waitFor(
      "mover running again",
      async () => {
        const v = (await c.call("GET", `/v1/vps/${before.id}`)).body;
        return v.state === "running" ? v : undefined;
      },
      60_000,
    );
    const completed = done.state === "completed";
    expect(after.nodeId).toBe(completed ? done.targetNodeId : before.nodeId);
    expect(after.epoch).toBe(completed ? before.epoch + 1 : before.epoch);
    await agentsAgreeWithDatabase(c);
    // The same guest counts on where it runs now: new lines, consecutive, every check ok.
    const again = await openApiConsole(c, before.id, c.operatorToken);
    const seen = () => counterLines(again.text());
    const last = (await waitFor("the replay", async () => seen().at(-1), 30_000)).n;
    await waitFor("new counter lines", async () => seen().some((l) => l.n >= last + 2) || undefined, 60_000);
    const lines = seen();
    for (let i = 1; i < lines.length; i++) expect(lines[i]!.n).toBe(lines[i - 1]!.n + 1);
    for (const l of lines) expect(l.status).toBe("ok");
    again.close();
  }, 300_000);
});
