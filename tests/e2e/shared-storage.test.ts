/**
 * Node failure with VPS disks on shared storage, end to end: the API with its workers, PostgreSQL,
 * Redis and three real agents; node-1 and node-2 mount one shared directory, node-3 keeps disks
 * locally. Linux guests write files on their disks; node-1 and node-3 are killed -9 (their VMMs
 * live on, as on a node cut off from the network). The shared-disk VPS is cold-restarted on node-2
 * from its disk, exactly once, its file intact, while node-1's stale VMM fences itself off the
 * disk; the local-disk VPS stays down until node-3 returns, then runs on as it was. node-1 back:
 * its stale VM is destroyed, the disk stays. The recovered VPS keeps its address and is reached at
 * it from another node, while another tenant's VPS is not. Deleting the VPS deletes its disk.
 */
import { existsSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { setTimeout as sleep } from "node:timers/promises";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { built, type Cluster, openApiConsole, startCluster, waitFor } from "./api-cluster.js";

// biome-ignore lint/suspicious/noExplicitAny: JSON from the API
type Json = any;

let c: Cluster;
const ids = new Map<string, string>(); // node name → id

const agent = (name: string) => c.agents.find((a) => a.name === name)!;
const vps = async (id: string): Promise<Json> => (await c.call("GET", `/v1/vps/${id}`)).body;
const events = async (id: string, type = ""): Promise<Json[]> =>
  (await c.call("GET", `/v1/events?resourceId=${id}&limit=200${type ? `&type=${type}` : ""}`)).body.items;

function isAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

/** Whether `text` holds `line` as a line of output (after a newline, or after a late prompt). */
function outputLine(text: string, line: string): boolean {
  return text.includes(`\n${line}\r\n`) || text.includes(`skiff# ${line}\r\n`);
}

/** The serial console over the API's WebSocket, with a way to run a shell command. */
async function openConsole(id: string) {
  const con = await openApiConsole(c, id, c.operatorToken);
  return {
    ...con,
    /** Types a command and waits for a line of its output (not the echo of what was typed). */
    async run(cmd: string, line: string, timeoutMs = 30_000) {
      // Typing before the shell reads is lost: wait for its prompt (replayed, or once it boots).
      await waitFor(`${id} at the prompt`, async () => con.text().includes("skiff# ") || undefined, 120_000);
      const mark = con.text().length;
      con.type(`${cmd}\n`);
      // The output line starts a line, or follows a prompt the shell printed late: typed before the
      // previous command's prompt, the line is echoed first and the prompt comes after it.
      await waitFor(
        `"${cmd}" prints ${line}`,
        async () => outputLine(con.text().slice(mark), line) || undefined,
        timeoutMs,
      ).catch((err: Error) => {
        throw new Error(`${err.message}\n--- console ---\n${con.text().slice(-1500)}`);
      });
    },
  };
}

/** A VPS of the Linux image on `node`, running, at the prompt. */
async function bootLinux(name: string, node: string, projectId?: string): Promise<Json> {
  const r = await c.call("POST", "/v1/vps", {
    name,
    plan: "small",
    node,
    ...(projectId ? { projectId } : {}),
  });
  expect(r.status, JSON.stringify(r.body)).toBe(202);
  const v = await waitFor(`${name} running`, async () => {
    const cur = await vps(r.body.id);
    if (cur.state === "error") throw new Error(`${name}: ${cur.stateReason}`);
    return cur.state === "running" ? cur : undefined;
  });
  const con = await openConsole(v.id);
  await con.run("echo ready", "ready");
  con.close();
  return v;
}

describe.skipIf(!built)("VPS disks on shared storage when nodes fail", () => {
  beforeAll(async () => {
    c = await startCluster({
      agents: 3,
      agentEnv: { SKIFF_AGENT_CPUS: "2" },
      agentEnvFor: (name): Record<string, string> =>
        name === "node-3" ? { SKIFF_AGENT_STORAGE: "local" } : {},
      apiEnv: {
        SKIFF_BALANCER_INTERVAL_MS: "1000",
        SKIFF_NODE_DEAD_AFTER_MS: "3000",
        SKIFF_NODE_FENCE_AFTER_MS: "4000",
        SKIFF_RATE_LIMIT_PER_MINUTE: "100000",
      },
    });
    for (const n of (await c.call("GET", "/v1/nodes?limit=10")).body.items as Json[]) ids.set(n.name, n.id);
  }, 120_000);

  afterAll(async () => {
    await c?.stop();
  }, 60_000);

  it("restarts the shared-disk VPS elsewhere from its disk exactly once; the local-disk one waits for its node", async () => {
    const nodes = new Map(
      ((await c.call("GET", "/v1/nodes?limit=10")).body.items as Json[]).map((n) => [n.name, n]),
    );
    expect(nodes.get("node-1").storage.backend).toBe("shared");
    expect(nodes.get("node-2").storage).toEqual(nodes.get("node-1").storage);
    expect(nodes.get("node-3").storage).toEqual({ backend: "local", id: "" });

    // Another tenant's VPS beside them: the network keeps it out of reach of theirs.
    const other = await c.call("POST", "/v1/projects", { name: "other-tenant" });
    expect(other.status, JSON.stringify(other.body)).toBe(201);
    const [keeper, local, stranger] = await Promise.all([
      bootLinux("keeper", "node-1"),
      bootLinux("local", "node-3"),
      bootLinux("stranger", "node-2", other.body.id),
    ]);
    expect(stranger.ipv4.split(".").slice(0, 3)).not.toEqual(keeper.ipv4.split(".").slice(0, 3));
    const disk = join(c.sharedDir, "disks", keeper.id, "disk.img");
    expect(existsSync(disk)).toBe(true);
    const token = `kept-${Date.now()}`;
    const k1 = await openConsole(keeper.id);
    await k1.run(`write /data/proof ${token}; cat /data/proof`, token);
    k1.close();
    const l1 = await openConsole(local.id);
    await l1.run(`write /data/proof local-${token}; cat /data/proof`, `local-${token}`);
    l1.close();

    // Both agents die; their VMMs run on.
    const stalePid = Number(readFileSync(join(agent("node-1").dataDir, "vms", keeper.id, "vmm.pid"), "utf8"));
    const localPid = Number(readFileSync(join(agent("node-3").dataDir, "vms", local.id, "vmm.pid"), "utf8"));
    const killedAt = Date.now();
    await Promise.all([agent("node-1").proc.stop("SIGKILL"), agent("node-3").proc.stop("SIGKILL")]);

    const moved = await waitFor(
      "keeper running on node-2",
      async () => {
        const v = await vps(keeper.id);
        return v.state === "running" && v.nodeId === ids.get("node-2") ? v : undefined;
      },
      60_000,
    );
    const recoveredAfter = (Date.now() - killedAt) / 1000;
    expect(moved.epoch).toBe(keeper.epoch + 1);
    const recovered = await events(keeper.id, "vps.recovered");
    expect(recovered).toHaveLength(1);
    expect(recovered[0].message).toBe(
      `node node-1 failed: cold-restarted on node-2 from its disk on shared storage (epoch ${keeper.epoch} → ${keeper.epoch + 1})`,
    );
    // The old VMM, still running on node-1 with its agent dead, stopped itself: the disk is
    // node-2's now.
    await waitFor("node-1's stale VMM gone", async () => !isAlive(stalePid) || undefined, 10_000);
    const k2 = await openConsole(keeper.id);
    await k2.run("cat /data/proof", token, 60_000);
    await k2.run("write /data/after recovered-on-node-2; cat /data/after", "recovered-on-node-2");
    k2.close();

    // The local-disk VPS: down, never recreated, its node fenced, its VMM untouched.
    const down = await waitFor(
      "local reported down",
      async () => ((await events(local.id, "vps.down")).length > 0 ? vps(local.id) : undefined),
      30_000,
    );
    expect(down).toMatchObject({ state: "unknown", nodeId: ids.get("node-3"), epoch: local.epoch });
    expect(down.stateReason).toMatch(/its disk is local to it: down until the node returns/);
    await waitFor(
      "node-3 fenced",
      async () =>
        (await c.call("GET", `/v1/nodes/${ids.get("node-3")}`)).body.status === "fenced" || undefined,
    );
    await sleep(3000); // several more recovery rounds
    expect(await vps(local.id)).toMatchObject({ state: "unknown", nodeId: ids.get("node-3") });
    expect(await events(local.id, "vps.recovered")).toHaveLength(0);
    expect(isAlive(localPid)).toBe(true);

    // node-3 returns: the VPS is its own again, as it was (same VMM, same disk).
    await c.startAgent(agent("node-3"));
    await waitFor("local running again on node-3", async () => {
      const v = await vps(local.id);
      return v.state === "running" && v.nodeId === ids.get("node-3") ? v : undefined;
    });
    const l2 = await openConsole(local.id);
    await l2.run("cat /data/proof", `local-${token}`);
    // The recovered VPS kept its address and MAC, and is reached at them across nodes (node-3 to
    // node-2); the other tenant's VPS on that same node is not reached at all. (The guest's own
    // shell has no redirection or loops: BusyBox ash runs these.)
    expect({ ipv4: moved.ipv4, mac: moved.mac }).toEqual({ ipv4: keeper.ipv4, mac: keeper.mac });
    await l2.run(
      `ash -c "until ping -c 1 -W 1 ${keeper.ipv4} >/dev/null; do sleep 1; done; echo reached-keeper"`,
      "reached-keeper",
      60_000,
    );
    await l2.run(
      `ash -c "ping -c 3 -W 1 ${stranger.ipv4} >/dev/null || echo stranger-unreachable"`,
      "stranger-unreachable",
    );
    l2.close();

    // node-1 returns with its stale VM: destroyed, not resumed, and without deleting the disk.
    await c.startAgent(agent("node-1"));
    await waitFor(
      "node-1 readmitted",
      async () =>
        (await c.call("GET", `/v1/nodes/${ids.get("node-1")}`)).body.status === "ready" || undefined,
      60_000,
    );
    expect(existsSync(join(agent("node-1").dataDir, "vms", keeper.id))).toBe(false);
    expect(existsSync(disk)).toBe(true);
    expect(await vps(keeper.id)).toMatchObject({
      state: "running",
      nodeId: ids.get("node-2"),
      epoch: moved.epoch,
    });
    expect(await events(keeper.id, "vps.recovered")).toHaveLength(1);
    const k3 = await openConsole(keeper.id);
    await k3.run("cat /data/proof", token);
    await k3.run("cat /data/after", "recovered-on-node-2");
    k3.close();
    console.log(
      `shared-disk VPS running on node-2 ${recoveredAfter.toFixed(1)} s after kill -9 of node-1 (dead after 3 s, fenced 4 s later)`,
    );

    // Deleting the VPS deletes its disk on shared storage.
    expect((await c.call("DELETE", `/v1/vps/${keeper.id}`)).status).toBe(202);
    await waitFor("keeper deleted", async () =>
      (await vps(keeper.id)).state === "deleted" ? true : undefined,
    );
    expect(existsSync(join(c.sharedDir, "disks", keeper.id))).toBe(false);
  }, 180_000);
});
