/**
 * The control plane end to end: the API process with its BullMQ workers, PostgreSQL, Redis and
 * three real node agents running VMs in hv-core (the agents' echo firmware as the guest image).
 */

import { writeFileSync } from "node:fs";
import { join } from "node:path";
import { builtForTests } from "@skiff/devkit";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import WebSocket from "ws";
import {
  addEchoCatalog,
  agentsAgreeWithDatabase,
  built,
  type Cluster,
  openApiConsole,
  root,
  startCluster,
  waitFor,
} from "./api-cluster.js";

/** Live migration needs the agent's migration side (apps/node-agent/src/migration). */
const agentMigrates = builtForTests(root, ["apps/node-agent/dist/migration"]);

const MiB = 2 ** 20;
/** 1 MiB firmware VPSes each node has room for. */
const NODE_ROOM = 5; // the later tests leave up to 9 VPSes running and then need 4 more
let c: Cluster;
let tenant: { token: string; projectId: string };

// biome-ignore lint/suspicious/noExplicitAny: JSON from the API
type Json = any;

async function vps(id: string, token = tenant.token): Promise<Json> {
  return (await c.call("GET", `/v1/vps/${id}`, undefined, token)).body;
}

async function until(id: string, state: string, timeoutMs = 60_000): Promise<Json> {
  try {
    return await waitFor(
      `VPS ${id} ${state}`,
      async () => {
        const v = await vps(id);
        if (v.state === "error" && state !== "error") throw new Error(`VPS went to error: ${v.stateReason}`);
        return v.state === state && v.action === null ? v : undefined;
      },
      timeoutMs,
    );
  } catch (err) {
    // Say where it got stuck: the VPS and its history.
    const events = (await c.call("GET", `/v1/events?resourceId=${id}&limit=100`)).body.items as Json[];
    const history = events
      .map((e) => `${e.type} ${e.fromState ?? ""}>${e.toState ?? ""} ${e.message}`)
      .join("\n");
    throw new Error(
      `${(err as Error).message}\n${JSON.stringify(await vps(id))}\n${history}\n--- api log\n${c.api.output().slice(-4000)}`,
    );
  }
}

/** A console over the API's WebSocket, as the tenant. */
const openConsole = (id: string) => openApiConsole(c, id, tenant.token);

async function act(id: string, action: string): Promise<Json> {
  const r = await c.call("POST", `/v1/vps/${id}/actions/${action}`, undefined, tenant.token);
  expect(r.status, JSON.stringify(r.body)).toBe(202);
  return r.body;
}

describe.skipIf(!built)("API + workers + 3 node agents", () => {
  beforeAll(async () => {
    // Each agent offers 2 cores and NODE_ROOM MiB: that many 1 MiB firmware VPSes per node.
    c = await startCluster({
      agents: 3,
      agentEnv: { SKIFF_AGENT_MEMORY: String(NODE_ROOM * MiB), SKIFF_AGENT_CPUS: "2" },
      // The tests poll up to 16 VPSes every 50 ms as the tenant, ~15,000 requests a minute: past
      // the default tenant limit, which apps/api's own tests check.
      apiEnv: { SKIFF_RATE_LIMIT_PER_MINUTE: "100000" },
    });
    await addEchoCatalog(c);
    const p = await c.call("POST", "/v1/projects", { name: "e2e", quotas: { maxVps: 100 } });
    const t = await c.call("POST", "/v1/tokens", { name: "e2e", projectId: p.body.id });
    tenant = { token: t.body.token, projectId: p.body.id };
  }, 120_000);

  afterAll(async () => {
    await c?.stop();
  }, 60_000);

  it("refuses a registration whose agent's certificate names another node, and counts it", async () => {
    const impostor = {
      name: "impostor",
      // node-1's agent answers there, with node-1's certificate.
      grpcAddress: `127.0.0.1:${c.agents[0]!.port}`,
      capacity: { cpus: 1, memoryBytes: 2 ** 30, diskBytes: 0 },
    };
    // The impostor holds a certificate of its own name, so the agent listener lets it through;
    // the API's call to the address it gave finds node-1 there.
    const r = await c.agentCall("impostor", "/v1/nodes/register", impostor);
    expect(r.status).toBe(403);
    expect(r.body.error.code).toBe("NODE_IDENTITY_MISMATCH");
    // With node-1's certificate it is refused by the listener itself; over plain HTTP, at all.
    const named = await c.agentCall("node-1", "/v1/nodes/register", impostor);
    expect([named.status, named.body.error.code]).toEqual([403, "NODE_IDENTITY_MISMATCH"]);
    const plain = await c.call("POST", "/v1/nodes/register", impostor, "e2e-agent-secret");
    expect([plain.status, plain.body.error.code]).toEqual([403, "AGENT_CERTIFICATE_REQUIRED"]);
    const metrics = await (await fetch(`${c.url}/metrics`)).text();
    expect(metrics).toMatch(/skiff_tls_refused_peers\{reason="wrong-identity"\} [1-9]/);
    const nodes = await c.call("GET", "/v1/nodes?limit=100");
    expect(nodes.body.items.map((n: { name: string }) => n.name)).not.toContain("impostor");
  });

  it("provisions 16 VPSes at once onto 3 agents offering room for 5 each: 15 run (5/5/5), none overbooked", async () => {
    const room = 3 * NODE_ROOM;
    const created = await Promise.all(
      Array.from({ length: room + 1 }, (_, i) =>
        c.call("POST", "/v1/vps", { name: `vm-${i}`, plan: "fw", image: "echo" }, tenant.token),
      ),
    );
    expect(created.map((r) => r.status)).toEqual(Array(room + 1).fill(202));
    const started = Date.now();
    const settled = await Promise.all(
      created.map((r) =>
        waitFor(
          `VPS ${r.body.name} settles`,
          async () => {
            const v = await vps(r.body.id);
            return v.action === null && ["running", "error"].includes(v.state) ? v : undefined;
          },
          180_000,
        ),
      ),
    );
    const elapsed = Date.now() - started;
    const running = settled.filter((v) => v.state === "running");
    const failed = settled.filter((v) => v.state === "error");
    expect(running).toHaveLength(room);
    expect(failed).toHaveLength(1);
    expect(failed[0].stateReason).toMatch(/not enough free memory/);
    expect(failed[0].nodeId).toBeNull();
    const perNode = new Map<string, number>();
    for (const v of running) perNode.set(v.nodeId, (perNode.get(v.nodeId) ?? 0) + 1);
    expect([...perNode.values()]).toEqual([NODE_ROOM, NODE_ROOM, NODE_ROOM]);
    expect(running.every((v) => v.epoch === 1)).toBe(true);

    const nodes = (await c.call("GET", "/v1/nodes")).body.items as Json[];
    for (const n of nodes) {
      expect(n.capacity.memoryBytes).toBe(NODE_ROOM * MiB);
      expect(n.reserved.memoryBytes).toBeLessThanOrEqual(n.capacity.memoryBytes);
      expect(n.reserved.vpsCount).toBe(perNode.get(n.id));
      // The agent itself runs them: its heartbeat says so.
      await waitFor(`${n.name} reports its VMs`, async () => {
        const fresh = (await c.call("GET", `/v1/nodes/${n.id}`)).body;
        return fresh.usage.vmCount === perNode.get(n.id);
      });
    }
    console.log(`${room} of ${room + 1} VPSes create→running (the last refused) in ${elapsed} ms`);

    // Make room for the other tests: delete them all (and see every VM go).
    await Promise.all(settled.map((v) => c.call("DELETE", `/v1/vps/${v.id}`, undefined, tenant.token)));
    await Promise.all(settled.map((v) => until(v.id, "deleted")));
    for (const n of nodes) {
      await waitFor(
        `${n.name} runs no VMs`,
        async () => (await c.call("GET", `/v1/nodes/${n.id}`)).body.usage.vmCount === 0,
      );
    }
  }, 300_000);

  it("runs every lifecycle action through the agent, with an event per state change", async () => {
    const v = (await c.call("POST", "/v1/vps", { name: "life", plan: "fw", image: "echo" }, tenant.token))
      .body;
    await until(v.id, "running");
    expect((await act(v.id, "stop")).state).toBe("stopping");
    await until(v.id, "stopped");
    expect((await act(v.id, "start")).state).toBe("starting");
    await until(v.id, "running");
    await act(v.id, "pause");
    await until(v.id, "paused");
    await act(v.id, "resume");
    await until(v.id, "running");
    await act(v.id, "reboot");
    await until(v.id, "running");
    await act(v.id, "suspend");
    await until(v.id, "suspended");
    await act(v.id, "restore");
    await until(v.id, "running");
    const del = await c.call("DELETE", `/v1/vps/${v.id}`, undefined, tenant.token);
    expect([del.status, del.body.state]).toEqual([202, "deleting"]);
    const gone = await until(v.id, "deleted");
    expect(gone.nodeId).toBeNull();

    const events = (await c.call("GET", `/v1/events?resourceId=${v.id}&limit=100`, undefined, tenant.token))
      .body.items as Json[];
    const moves = events.filter((e) => e.toState !== null).map((e) => `${e.fromState ?? ""}>${e.toState}`);
    expect(moves).toEqual([
      ">pending",
      "pending>provisioning",
      "provisioning>running",
      "running>stopping",
      "stopping>stopped",
      "stopped>starting",
      "starting>running",
      "running>running", // pause requested (the action holds the VPS; state unchanged)
      "running>paused",
      "paused>paused", // resume requested
      "paused>running",
      "running>rebooting",
      "rebooting>running",
      "running>suspending",
      "suspending>suspended",
      "suspended>restoring",
      "restoring>running",
      "running>deleting",
      "deleting>deleted",
    ]);
  }, 180_000);

  it("renames, resizes a stopped VPS to a bigger plan and rebuilds it keeping its address", async () => {
    const plan = await c.call("POST", "/v1/plans", {
      name: "fw2",
      vcpus: 1,
      memoryBytes: 2 * MiB,
      diskBytes: 0,
      cpuShare: 10,
    });
    expect(plan.status).toBe(201);
    const v = (await c.call("POST", "/v1/vps", { name: "chg", plan: "fw", image: "echo" }, tenant.token))
      .body;
    const first = await until(v.id, "running");
    const renamed = await c.call("PATCH", `/v1/vps/${v.id}`, { name: "chg2" }, tenant.token);
    expect([renamed.status, renamed.body.name]).toEqual([200, "chg2"]);
    await act(v.id, "stop");
    await until(v.id, "stopped");
    const r = await c.call("POST", `/v1/vps/${v.id}/resize`, { plan: "fw2" }, tenant.token);
    expect([r.status, r.body.action]).toEqual([202, "resize"]);
    const resized = await waitFor("resized", async () => {
      const now = (await c.call("GET", `/v1/vps/${v.id}`, undefined, tenant.token)).body;
      return now.action === null ? now : undefined;
    });
    expect(resized).toMatchObject({ state: "stopped", memoryBytes: 2 * MiB, stateReason: null });
    await act(v.id, "start");
    await until(v.id, "running");

    const b = await c.call("POST", `/v1/vps/${v.id}/rebuild`, { image: "echo" }, tenant.token);
    expect([b.status, b.body.state]).toEqual([202, "provisioning"]);
    const rebuilt = await until(v.id, "running");
    expect(rebuilt).toMatchObject({
      name: "chg2",
      epoch: first.epoch + 1,
      nodeId: first.nodeId,
      ipv4: first.ipv4,
      mac: first.mac,
    });
    const types = (
      await c.call("GET", `/v1/events?resourceId=${v.id}&limit=100`, undefined, tenant.token)
    ).body.items.map((e: Json) => e.type);
    expect(types).toEqual(expect.arrayContaining(["vps.renamed", "vps.resized", "vps.rebuilt"]));
    expect((await c.call("DELETE", `/v1/vps/${v.id}`, undefined, tenant.token)).status).toBe(202);
    await until(v.id, "deleted");
  }, 180_000);

  it("snapshots a running VPS's disk with a short pause, restores it stopped, deletes it", async () => {
    // The echo firmware never touches its disk: the image only has to give the VPS one.
    const rootfsPath = join(c.dir, "echo-disk.img");
    writeFileSync(rootfsPath, Buffer.alloc(256 * 1024, 0x5a));
    const kernelPath = join(c.dir, "echo-firmware.elf");
    const image = await c.call("POST", "/v1/images", {
      name: "echo-disk",
      bootMode: "firmware",
      kernelPath,
      rootfsPath,
      arch: "riscv32",
    });
    expect(image.status).toBe(201);
    const v = (
      await c.call("POST", "/v1/vps", { name: "snap", plan: "fw", image: "echo-disk" }, tenant.token)
    ).body;
    await until(v.id, "running");
    const s = await c.call("POST", `/v1/vps/${v.id}/snapshots`, { name: "s1" }, tenant.token);
    expect([s.status, s.body.state]).toEqual([202, "creating"]);
    const taken = await waitFor("snapshot available", async () => {
      const now = (await c.call("GET", `/v1/snapshots/${s.body.id}`, undefined, tenant.token)).body;
      return now.state !== "creating" ? now : undefined;
    });
    expect(taken).toMatchObject({ state: "available", sizeBytes: 256 * 1024 });
    expect(taken.pausedMs).toBeGreaterThan(0);
    expect((await until(v.id, "running")).action).toBeNull();

    await act(v.id, "stop");
    await until(v.id, "stopped");
    const r = await c.call("POST", `/v1/vps/${v.id}/restore-snapshot`, { snapshot: "s1" }, tenant.token);
    expect([r.status, r.body.action]).toEqual([202, "restore-snapshot"]);
    const restored = await waitFor("restored", async () => {
      const now = (await c.call("GET", `/v1/vps/${v.id}`, undefined, tenant.token)).body;
      return now.action === null ? now : undefined;
    });
    expect(restored).toMatchObject({ state: "stopped", stateReason: null });
    // A new VPS from the snapshot runs on the node that keeps it.
    const clone = await c.call(
      "POST",
      "/v1/vps",
      { name: "snap-clone", plan: "fw", snapshot: "s1" },
      tenant.token,
    );
    expect(clone.status).toBe(202);
    expect(await until(clone.body.id, "running")).toMatchObject({ nodeId: taken.nodeId, imageId: v.imageId });
    expect((await c.call("DELETE", `/v1/snapshots/${s.body.id}`, undefined, tenant.token)).status).toBe(204);
    expect((await c.call("GET", `/v1/snapshots?vpsId=${v.id}`, undefined, tenant.token)).body.items).toEqual(
      [],
    );
  }, 180_000);

  it("keeps a strict anti-affinity group on distinct nodes and refuses a 4th member", async () => {
    const g = await c.call(
      "POST",
      "/v1/placement-groups",
      { name: "ha", policy: "anti_affinity" },
      tenant.token,
    );
    expect(g.status).toBe(201);
    const members = await Promise.all(
      [1, 2, 3, 4].map((i) =>
        c.call(
          "POST",
          "/v1/vps",
          { name: `ha-${i}`, plan: "fw", image: "echo", placementGroup: "ha" },
          tenant.token,
        ),
      ),
    );
    const final = await Promise.all(
      members.map((m) =>
        waitFor(
          `ha member ${m.body.name} settles`,
          async () => {
            const v = await vps(m.body.id);
            return v.action === null && ["running", "error"].includes(v.state) ? v : undefined;
          },
          90_000,
        ),
      ),
    );
    const ok = final.filter((v) => v.state === "running");
    expect(ok).toHaveLength(3);
    expect(new Set(ok.map((v) => v.nodeId)).size).toBe(3);
    const failed = final.filter((v) => v.state === "error");
    expect(failed).toHaveLength(1);
    expect(failed[0].stateReason).toMatch(/anti-affinity/);
    expect(failed[0].nodeId).toBeNull();
  }, 180_000);

  it("bridges the console over a WebSocket: replayed banner, typed input echoed", async () => {
    const v = (await c.call("POST", "/v1/vps", { name: "tty", plan: "fw", image: "echo" }, tenant.token))
      .body;
    await until(v.id, "running");
    const ws = new WebSocket(`${c.url.replace("http", "ws")}/v1/vps/${v.id}/console`, {
      headers: { authorization: `Bearer ${tenant.token}` },
    });
    let text = "";
    ws.on("message", (data, isBinary) => {
      if (isBinary) text += Buffer.from(data as Buffer).toString("utf8");
    });
    await new Promise<void>((resolve, reject) => {
      ws.once("open", () => {
        // Typed the instant the socket opens, before the API has looked the VPS up: not lost.
        ws.send(Buffer.from("early"), { binary: true });
        resolve();
      });
      ws.once("error", reject);
    });
    await waitFor("banner", async () => text.includes("fw ready"), 20_000);
    await waitFor("early input echoed", async () => text.includes("early"), 20_000);
    ws.send(Buffer.from("hello"), { binary: true });
    await waitFor("echo", async () => text.includes("hello"), 20_000);
    ws.close();

    // Another tenant's token cannot open it (the upgrade is refused like any request).
    const other = await c.call("POST", "/v1/tokens", {
      name: "x",
      projectId: (await c.call("POST", "/v1/projects", { name: "other" })).body.id,
    });
    const denied = new WebSocket(`${c.url.replace("http", "ws")}/v1/vps/${v.id}/console`, {
      headers: { authorization: `Bearer ${other.body.token}` },
    });
    const code = await new Promise<number>((resolve) => denied.once("close", (c) => resolve(c)));
    expect(code).toBe(4404);
  }, 120_000);

  it.skipIf(!agentMigrates)(
    "live-migrates a running VPS there and back; the guest's state carries over",
    async () => {
      const v = (await c.call("POST", "/v1/vps", { name: "mover", plan: "fw", image: "echo" }, tenant.token))
        .body;
      const first = await until(v.id, "running");
      const tty = await openConsole(v.id);
      tty.type("abc?"); // the echo firmware counts received bytes; '?' prints the count
      await waitFor("count 4", async () => tty.text().includes("00000004"), 20_000);

      const hops: Json[] = [];
      for (const target of [undefined, first.nodeId]) {
        const r = await c.call("POST", `/v1/vps/${v.id}/migrate`, target ? { targetNode: target } : {});
        expect(r.status, JSON.stringify(r.body)).toBe(202);
        expect(r.body.state).toBe("queued");
        const done = await waitFor(
          `migration ${r.body.id} ends`,
          async () => {
            const m = (await c.call("GET", `/v1/migrations/${r.body.id}`)).body;
            return m.finishedAt ? m : undefined;
          },
          120_000,
        );
        expect(done.state, JSON.stringify(done)).toBe("completed");
        expect(done.rounds.length).toBeGreaterThan(0);
        expect(done.downtimeMs).toBeGreaterThanOrEqual(0);
        hops.push(done);
        const moved = await until(v.id, "running");
        expect(moved.nodeId).toBe(done.targetNodeId);
        expect(moved.epoch).toBe(done.targetEpoch);
      }
      expect(hops[0].targetNodeId).not.toBe(first.nodeId);
      expect(hops[1].targetNodeId).toBe(first.nodeId);
      expect(hops.map((m) => m.targetEpoch)).toEqual([2, 3]);

      // Same guest, same registers: the count goes on (4 bytes before, the '?' now is the 5th).
      const after = await openConsole(v.id);
      after.type("?");
      await waitFor("count 5", async () => after.text().includes("00000005"), 20_000);
      after.close();
      tty.close();
      const rounds = (await c.call("GET", `/v1/events?resourceId=${hops[0].id}&type=migration.round`)).body
        .items;
      expect(rounds.length).toBe(hops[0].rounds.length);
      // Every state of the migration's machine was entered, live and in order.
      const changes = (
        await c.call("GET", `/v1/events?resourceId=${hops[0].id}&type=migration.state_changed&limit=50`)
      ).body.items as Json[];
      expect(changes.map((e) => e.toState)).toEqual(["preparing", "precopy", "stopcopy", "committing"]);
      // Only the destination runs it: the old source reports no VM.
      const nodes = (await c.call("GET", "/v1/nodes")).body.items as Json[];
      const other = nodes.find((n) => n.id === hops[0].targetNodeId)!;
      await waitFor("the intermediate node dropped the VM", async () => {
        const fresh = (await c.call("GET", `/v1/nodes/${other.id}`)).body;
        return fresh.usage.vmCount === fresh.reserved.vpsCount;
      });
    },
    300_000,
  );

  // The API (HTTP and workers) killed -9 while the destination prepares, and mid-transfer.
  for (const [when, states] of [
    ["while the destination prepares", ["preparing"]],
    ["mid-transfer", ["precopy", "stopcopy", "committing"]],
  ] as const) {
    it.skipIf(!agentMigrates)(
      `settles a migration whose API process was killed ${when}: one copy, the DB agrees`,
      async () => {
        const v = (
          await c.call(
            "POST",
            "/v1/vps",
            { name: `crash-mover-${states[0]}`, plan: "fw", image: "echo" },
            tenant.token,
          )
        ).body;
        const before = await until(v.id, "running");
        const tty = await openConsole(v.id);
        tty.type("xy?");
        await waitFor("count 3", async () => tty.text().includes("00000003"), 20_000);
        tty.close();
        // A bandwidth cap keeps the transfer in flight long enough to kill the worker during it.
        const r = await c.call("POST", `/v1/vps/${v.id}/migrate`, { bandwidthBytesPerSec: 512 * 1024 });
        expect(r.status, JSON.stringify(r.body)).toBe(202);
        const seen = await waitFor(
          `the migration ${when}`,
          async () => {
            const m = (await c.call("GET", `/v1/migrations/${r.body.id}`)).body;
            if ((states as readonly string[]).includes(m.state)) return m.state as string;
            // Past the point (a slow poll): kill all the same, the outcome must hold.
            const order = ["queued", "preparing", "precopy", "stopcopy", "committing"];
            const past = m.finishedAt || order.indexOf(m.state) > order.indexOf(states.at(-1)!);
            return past ? `${m.state} (past ${states.at(-1)})` : undefined;
          },
          60_000,
        );
        await c.api.stop("SIGKILL");
        await c.startApi();
        const done = await waitFor(
          "the migration is settled after the restart",
          async () => {
            const m = (await c.call("GET", `/v1/migrations/${r.body.id}`)).body;
            return m.finishedAt ? m : undefined;
          },
          180_000,
        );
        expect(["completed", "rolled-back"]).toContain(done.state);
        console.log(
          `migration killed ${when} (seen ${seen}) ended ${done.state} (${done.errorCode ?? "-"}: ${done.error ?? ""})`,
        );
        const after = await until(v.id, "running");
        expect(after.nodeId).toBe(done.state === "completed" ? done.targetNodeId : before.nodeId);
        expect(after.epoch).toBe(done.state === "completed" ? 2 : 1);
        // The guest went on where it was, on whichever node the DB says.
        const again = await openConsole(v.id);
        again.type("?");
        await waitFor("count 4", async () => again.text().includes("00000004"), 20_000);
        again.close();
        await agentsAgreeWithDatabase(c);
      },
      300_000,
    );
  }

  it("finishes a provisioning whose API process was killed mid-job, exactly once", async () => {
    const created = await Promise.all(
      [1, 2, 3, 4].map((i) =>
        c.call("POST", "/v1/vps", { name: `crash-${i}`, plan: "fw", image: "echo" }, tenant.token),
      ),
    );
    // Kill -9 the API (HTTP and workers) while the jobs are in flight, then start it again.
    await waitFor(
      "a provisioning job in flight",
      async () => {
        const states = await Promise.all(
          created.map(
            async (r) => (await c.call("GET", `/v1/vps/${r.body.id}`, undefined, tenant.token)).body.state,
          ),
        );
        return states.includes("provisioning") || states.includes("pending");
      },
      10_000,
    );
    await c.api.stop("SIGKILL");
    await c.startApi();
    const running = await Promise.all(created.map((r) => until(r.body.id, "running", 120_000)));
    for (const v of running) {
      const events = (
        await c.call("GET", `/v1/events?resourceId=${v.id}&type=vps.placed`, undefined, tenant.token)
      ).body.items;
      expect(events).toHaveLength(1); // placed once: no second reservation
      expect(v.epoch).toBe(1);
    }
    const nodes = (await c.call("GET", "/v1/nodes")).body.items as Json[];
    const reserved = nodes.reduce((n: number, x: Json) => n + x.reserved.vpsCount, 0);
    const live = (await c.call("GET", "/v1/vps?limit=500", undefined, tenant.token)).body.items.filter(
      (v: Json) => v.nodeId !== null,
    ).length;
    expect(reserved).toBe(live);
    // And the agents run exactly those VMs: a retried job never created a second one.
    await agentsAgreeWithDatabase(c);
  }, 240_000);
});
