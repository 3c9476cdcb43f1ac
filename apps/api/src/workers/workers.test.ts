// Worker behaviour on the real database and Redis when things go wrong: an agent that does not
// answer, no capacity, superseded jobs, lost jobs, and VMs a node should not have.
import { randomUUID } from "node:crypto";
import { createLogger } from "@skiff/common";
import { freePort } from "@skiff/devkit";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { DEFAULT_POLICY } from "../domain/placement.js";
import { AGENT_TOKEN, type Harness, startHarness } from "../test-support/harness.js";
import type { WorkerContext } from "./context.js";
import { runLifecycle } from "./lifecycle.js";
import { destroyStaleVm, ORPHAN_AFTER_MS, reconcileOrphans } from "./maintenance.js";
import { runProvision } from "./provision.js";

const MiB = 2 ** 20;
let h: Harness;
let ctx: WorkerContext;
let deadNodeId: string;
let tenant: { token: string; projectId: string };

beforeAll(async () => {
  h = await startHarness();
  ctx = { db: h.db, agents: h.agents, policy: DEFAULT_POLICY, log: createLogger("test") };
  // A node whose agent is not there: nothing listens on its port.
  const r = await h.call(AGENT_TOKEN, "POST", "/v1/nodes/register", {
    name: "ghost",
    grpcAddress: `127.0.0.1:${await freePort()}`,
    capacity: { cpus: 2, memoryBytes: 256 * MiB, diskBytes: 10_000 * MiB },
  });
  deadNodeId = r.body.nodeId;
  tenant = await h.tenant();
});
afterAll(async () => {
  await h?.close();
});

async function createVps(name: string) {
  const r = await h.call(tenant.token, "POST", "/v1/vps", { name, plan: "small" });
  expect(r.status).toBe(202);
  return h.db.vps.findUniqueOrThrow({ where: { id: r.body.id } });
}

describe("provisioning worker", () => {
  it("keeps the reservation while retrying an unreachable agent, then gives up cleanly", async () => {
    const v = await createVps("unlucky");
    const job = { vpsId: v.id, actionId: v.actionId! };
    await expect(runProvision(ctx, job, { number: 1, max: 3 })).rejects.toMatchObject({
      code: "AGENT_UNAVAILABLE",
    });
    const retrying = await h.db.vps.findUniqueOrThrow({ where: { id: v.id } });
    expect(retrying).toMatchObject({ state: "provisioning", nodeId: deadNodeId, epoch: 1, action: "create" });

    expect(await runProvision(ctx, job, { number: 3, max: 3 })).toBe("error");
    const failed = await h.db.vps.findUniqueOrThrow({ where: { id: v.id } });
    expect(failed).toMatchObject({ state: "error", nodeId: null, action: null, actionId: null, epoch: 1 });
    expect(failed.stateReason).toMatch(/^provisioning failed: agent 127\.0\.0\.1:\d+ CreateVm/);
    const types = (await h.db.event.findMany({ where: { resourceId: v.id }, orderBy: { id: "asc" } })).map(
      (e) => e.type,
    );
    expect(types).toEqual(["vps.created", "vps.placed", "vps.provision_failed"]);
    // The error VPS can be deleted (no node: nothing to destroy).
    const del = await h.call(tenant.token, "DELETE", `/v1/vps/${v.id}`);
    expect(del.status).toBe(202);
    const row = await h.db.vps.findUniqueOrThrow({ where: { id: v.id } });
    expect(
      await runLifecycle(
        ctx,
        { vpsId: v.id, action: "delete", actionId: row.actionId! },
        { number: 1, max: 5 },
      ),
    ).toBe("done");
    expect((await h.db.vps.findUniqueOrThrow({ where: { id: v.id } })).state).toBe("deleted");
  });

  it("retries while nothing fits, and says why when it gives up", async () => {
    await h.call(h.operatorToken, "POST", `/v1/nodes/${deadNodeId}/drain`);
    try {
      const v = await createVps("nowhere");
      const job = { vpsId: v.id, actionId: v.actionId! };
      await expect(runProvision(ctx, job, { number: 1, max: 2 })).rejects.toMatchObject({
        code: "NO_CAPACITY",
      });
      expect((await h.db.vps.findUniqueOrThrow({ where: { id: v.id } })).state).toBe("pending");
      expect(await runProvision(ctx, job, { number: 2, max: 2 })).toBe("error");
      const failed = await h.db.vps.findUniqueOrThrow({ where: { id: v.id } });
      expect(failed.stateReason).toContain("ghost: node is in maintenance");
      expect(failed.nodeId).toBeNull();
    } finally {
      await h.call(h.operatorToken, "POST", `/v1/nodes/${deadNodeId}/undrain`);
    }
  });

  it("ignores a job whose action was superseded", async () => {
    const v = await createVps("stale-job");
    expect(await runProvision(ctx, { vpsId: v.id, actionId: randomUUID() }, { number: 1, max: 1 })).toBe(
      "superseded",
    );
    expect(
      await runLifecycle(ctx, { vpsId: v.id, action: "stop", actionId: randomUUID() }, { number: 1, max: 1 }),
    ).toBe("superseded");
    expect(await h.db.vps.findUniqueOrThrow({ where: { id: v.id } })).toMatchObject({
      state: "pending",
      nodeId: null,
    });
  });
});

describe("lifecycle worker", () => {
  it("records what it can when the agent never answers: unknown, action released", async () => {
    const v = await createVps("stuck");
    await h.db.vps.update({
      where: { id: v.id },
      data: { state: "running", nodeId: deadNodeId, epoch: 1, action: null, actionId: null },
    });
    const r = await h.call(tenant.token, "POST", `/v1/vps/${v.id}/actions/reboot`);
    expect(r.body.state).toBe("rebooting");
    const { actionId } = await h.db.vps.findUniqueOrThrow({ where: { id: v.id } });
    const job = { vpsId: v.id, action: "reboot" as const, actionId: actionId! };
    await expect(runLifecycle(ctx, job, { number: 1, max: 2 })).rejects.toMatchObject({
      code: "AGENT_UNAVAILABLE",
    });
    expect(await runLifecycle(ctx, job, { number: 2, max: 2 })).toBe("failed");
    const after = await h.db.vps.findUniqueOrThrow({ where: { id: v.id } });
    expect(after).toMatchObject({ state: "unknown", action: null });
    expect(after.stateReason).toMatch(/^reboot failed: /);
  });
});

describe("deleting on a node that is down", () => {
  it("deletes at once when the node is unreachable; its VM is left to stale-VM cleanup", async () => {
    const v = await createVps("orphaned");
    await h.db.vps.update({
      where: { id: v.id },
      data: { state: "unknown", nodeId: deadNodeId, epoch: 1, action: null, actionId: null },
    });
    await h.db.node.update({ where: { id: deadNodeId }, data: { status: "unreachable" } });
    try {
      const r = await h.call(tenant.token, "DELETE", `/v1/vps/${v.id}`);
      expect(r.status).toBe(202);
      const { actionId } = await h.db.vps.findUniqueOrThrow({ where: { id: v.id } });
      expect(
        await runLifecycle(
          ctx,
          { vpsId: v.id, action: "delete", actionId: actionId! },
          { number: 1, max: 5 },
        ),
      ).toBe("done");
      const gone = await h.db.vps.findUniqueOrThrow({ where: { id: v.id } });
      expect(gone).toMatchObject({ state: "deleted", nodeId: null, action: null });
      expect(gone.stateReason).toMatch(/destroys the VM when it reports again/);
    } finally {
      await h.db.node.update({ where: { id: deadNodeId }, data: { status: "ready" } });
    }
  });

  it("retries an agent that does not answer, then deletes anyway on the last try", async () => {
    const v = await createVps("flaky-delete");
    await h.db.vps.update({
      where: { id: v.id },
      data: { state: "running", nodeId: deadNodeId, epoch: 1, action: null, actionId: null },
    });
    await h.call(tenant.token, "DELETE", `/v1/vps/${v.id}`);
    const { actionId } = await h.db.vps.findUniqueOrThrow({ where: { id: v.id } });
    const job = { vpsId: v.id, action: "delete" as const, actionId: actionId! };
    await expect(runLifecycle(ctx, job, { number: 1, max: 2 })).rejects.toMatchObject({
      code: "AGENT_UNAVAILABLE",
    });
    expect(await runLifecycle(ctx, job, { number: 2, max: 2 })).toBe("done");
    expect((await h.db.vps.findUniqueOrThrow({ where: { id: v.id } })).state).toBe("deleted");
  });
});

describe("maintenance", () => {
  it("re-enqueues an action whose job was lost", async () => {
    const v = await createVps("orphan");
    const job = await h.queues.provision.getJob(v.actionId!);
    await job?.remove();
    expect(await reconcileOrphans(ctx, h.queues)).toBe(0); // too recent to call it lost
    const later = Date.now() + ORPHAN_AFTER_MS + 1000;
    expect(await reconcileOrphans(ctx, h.queues, later)).toBeGreaterThanOrEqual(1);
    const again = await h.queues.provision.getJob(v.actionId!);
    expect(again?.data).toEqual({ vpsId: v.id, actionId: v.actionId });
  });

  it("queues the destruction of VMs a node reports but should not have", async () => {
    const node = await h.call(AGENT_TOKEN, "POST", "/v1/nodes/register", {
      name: "returning",
      grpcAddress: "127.0.0.1:1",
      capacity: { cpus: 2, memoryBytes: 256 * MiB, diskBytes: 0 },
    });
    const deleted = await createVps("was-here");
    await h.db.vps.update({
      where: { id: deleted.id },
      data: { state: "deleted", action: null, actionId: null },
    });
    const unknownId = randomUUID();
    const hb = await h.call(AGENT_TOKEN, "POST", `/v1/nodes/${node.body.nodeId}/heartbeat`, {
      usage: { cpuPercent: 0, memoryUsedBytes: 0, vmCount: 2 },
      vms: [
        { vmId: deleted.id, epoch: 1, state: "running", memoryBytes: 1 },
        { vmId: unknownId, epoch: 3, state: "paused", memoryBytes: 1 },
      ],
    });
    expect(hb.status).toBe(200);
    const jobs = await h.queues.maintenance.getJobs(["waiting", "delayed", "active", "prioritized"]);
    const stale = jobs.filter((j) => j.name === "destroy-stale").map((j) => j.data);
    expect(stale).toEqual(
      expect.arrayContaining([
        { nodeId: node.body.nodeId, vmId: deleted.id, epoch: 1 },
        { nodeId: node.body.nodeId, vmId: unknownId, epoch: 3 },
      ]),
    );
  });

  it("never destroys a VM its VPS is moving to, nor one the VPS has since been placed with", async () => {
    const target = await h.call(AGENT_TOKEN, "POST", "/v1/nodes/register", {
      name: "target",
      grpcAddress: "127.0.0.1:1",
      capacity: { cpus: 2, memoryBytes: 256 * MiB, diskBytes: 0 },
    });
    const targetId = target.body.nodeId as string;
    const v = await createVps("moving");
    // Mid-migration: the VPS still points at its source, holds the action, the target reports it.
    await h.db.vps.update({
      where: { id: v.id },
      data: { state: "migrating", nodeId: deadNodeId, epoch: 1, action: "migrate", actionId: randomUUID() },
    });
    await h.call(AGENT_TOKEN, "POST", `/v1/nodes/${targetId}/heartbeat`, {
      usage: { cpuPercent: 0, memoryUsedBytes: 0, vmCount: 1 },
      vms: [{ vmId: v.id, epoch: 2, state: "running", memoryBytes: 1 }],
    });
    const jobs = await h.queues.maintenance.getJobs(["waiting", "delayed", "active", "prioritized"]);
    expect(jobs.filter((j) => j.name === "destroy-stale" && j.data.vmId === v.id)).toEqual([]);
    // A destroy queued earlier is judged again when it runs: the VPS lives there now.
    await h.db.vps.update({
      where: { id: v.id },
      data: { state: "running", nodeId: targetId, epoch: 2, action: null, actionId: null },
    });
    expect(await destroyStaleVm(ctx, { nodeId: targetId, vmId: v.id, epoch: 2 })).toBe(false);
  });
});
