// Rename, resize and rebuild requests on the real database and Redis: what is refused and what a
// request holds. (The agents' part runs end to end in tests/e2e/api-cluster.test.ts.)
import { freePort } from "@skiff/devkit";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { AGENT_TOKEN, type Harness, startHarness } from "../test-support/harness.js";

const MiB = 2 ** 20;
let h: Harness;
let node: string;
let tenant: { token: string; projectId: string };

/** A VPS already on the node in `state` (as if provisioned). */
async function vpsIn(name: string, state: "running" | "stopped") {
  const r = await h.call(tenant.token, "POST", "/v1/vps", { name, plan: "small" });
  expect(r.status).toBe(202);
  await h.db.vps.update({
    where: { id: r.body.id },
    data: { state, nodeId: node, epoch: 1, action: null, actionId: null },
  });
  return r.body.id as string;
}

beforeAll(async () => {
  h = await startHarness();
  // An agent that is not there (nothing listens): these tests stop at the queue.
  const r = await h.call(AGENT_TOKEN, "POST", "/v1/nodes/register", {
    name: "chg-a",
    grpcAddress: `127.0.0.1:${await freePort()}`,
    capacity: { cpus: 2, memoryBytes: 600 * MiB, diskBytes: 1000 * MiB },
  });
  node = r.body.nodeId;
  tenant = await h.tenant("changes", { maxMemoryBytes: BigInt(400 * MiB) });
  for (const [name, memoryMiB, diskMiB] of [
    ["grown", 128, 256],
    ["huge", 512, 256],
    ["shrunk", 64, 64],
  ] as const) {
    const p = await h.call(h.operatorToken, "POST", "/v1/plans", {
      name,
      vcpus: 1,
      memoryBytes: memoryMiB * MiB,
      diskBytes: diskMiB * MiB,
      cpuShare: 50,
    });
    expect(p.status).toBe(201);
  }
});
afterAll(async () => {
  await h?.close();
});

describe("rename", () => {
  it("renames in any state, refuses a name taken in the project", async () => {
    const a = await vpsIn("web", "running");
    await vpsIn("db", "running");
    const r = await h.call(tenant.token, "PATCH", `/v1/vps/${a}`, { name: "www" });
    expect([r.status, r.body.name, r.body.state]).toEqual([200, "www", "running"]);
    const taken = await h.call(tenant.token, "PATCH", `/v1/vps/${a}`, { name: "db" });
    expect([taken.status, taken.body.error.code]).toEqual([409, "NAME_TAKEN"]);
    const events = await h.db.event.findMany({ where: { resourceId: a, type: "vps.renamed" } });
    expect(events.map((e) => e.message)).toEqual(["web → www"]);
  });
});

describe("resize", () => {
  it("holds a stopped VPS for its worker; refuses a running one, a smaller disk, a node without room and the quota", async () => {
    const id = await vpsIn("big", "stopped");
    const running = await vpsIn("busy", "running");
    const refused = async (vps: string, plan: string) => {
      const r = await h.call(tenant.token, "POST", `/v1/vps/${vps}/resize`, { plan });
      return [r.status, r.body.error?.code];
    };
    expect(await refused(running, "grown")).toEqual([409, "INVALID_STATE"]);
    expect(await refused(id, "shrunk")).toEqual([422, "UNPROCESSABLE"]);
    // 512 MiB beside the other three: past the project's 400 MiB, then past the node's 600.
    expect(await refused(id, "huge")).toEqual([422, "QUOTA_EXCEEDED"]);
    await h.db.project.update({
      where: { id: tenant.projectId },
      data: { maxMemoryBytes: BigInt(4096 * MiB) },
    });
    expect(await refused(id, "huge")).toEqual([422, "NO_NODE_FITS"]);

    const r = await h.call(tenant.token, "POST", `/v1/vps/${id}/resize`, { plan: "grown" });
    expect(r.status).toBe(202);
    expect(r.body).toMatchObject({ state: "stopped", action: "resize" });
    const { actionId } = await h.db.vps.findUniqueOrThrow({ where: { id } });
    const plan = await h.db.plan.findUniqueOrThrow({ where: { name: "grown" } });
    expect((await h.queues.lifecycle.getJob(actionId!))?.data).toMatchObject({
      action: "resize",
      planId: plan.id,
    });
    expect((await h.call(tenant.token, "POST", `/v1/vps/${id}/resize`, { plan: "grown" })).status).toBe(409);
  });
});

describe("rebuild", () => {
  it("holds the VPS in provisioning with the image for its worker", async () => {
    const id = await vpsIn("again", "stopped");
    const missing = await h.call(tenant.token, "POST", `/v1/vps/${id}/rebuild`, { image: "nope" });
    expect([missing.status, missing.body.error.details.field]).toEqual([422, "image"]);
    const image = await h.db.image.findFirstOrThrow({ where: { isDefault: true } });
    const r = await h.call(tenant.token, "POST", `/v1/vps/${id}/rebuild`, { image: image.name });
    expect(r.status).toBe(202);
    expect(r.body).toMatchObject({ state: "provisioning", action: "rebuild" });
    const { actionId } = await h.db.vps.findUniqueOrThrow({ where: { id } });
    expect((await h.queues.lifecycle.getJob(actionId!))?.data).toMatchObject({
      action: "rebuild",
      imageId: image.id,
    });
  });
});

describe("snapshots", () => {
  it("holds the VPS while its snapshot is taken; counts snapshots against the quota; restores only onto a stopped VPS", async () => {
    const id = await vpsIn("snapped", "running");
    const quota = await h.call(h.operatorToken, "PATCH", `/v1/projects/${tenant.projectId}`, {
      quotas: { maxSnapshots: 1 },
    });
    expect([quota.status, quota.body.quotas.maxSnapshots]).toEqual([200, 1]);
    const r = await h.call(tenant.token, "POST", `/v1/vps/${id}/snapshots`, { name: "before-upgrade" });
    expect(r.status).toBe(202);
    expect(r.body).toMatchObject({ state: "creating", vpsId: id, name: "before-upgrade" });
    expect((await h.call(tenant.token, "GET", `/v1/vps/${id}`)).body).toMatchObject({
      state: "running",
      action: "snapshot",
    });
    const { actionId } = await h.db.vps.findUniqueOrThrow({ where: { id } });
    expect((await h.queues.lifecycle.getJob(actionId!))?.data).toMatchObject({
      action: "snapshot",
      snapshotId: r.body.id,
    });
    // As if its worker finished: the VPS free again, the snapshot kept on its node.
    await h.db.vps.update({ where: { id }, data: { action: null, actionId: null } });
    await h.db.snapshot.update({ where: { id: r.body.id }, data: { state: "available", nodeId: node } });
    const over = await h.call(tenant.token, "POST", `/v1/vps/${id}/snapshots`, { name: "second" });
    expect([over.status, over.body.error.code]).toEqual([422, "QUOTA_EXCEEDED"]);

    const listed = await h.call(tenant.token, "GET", `/v1/snapshots?vpsId=${id}`);
    expect(listed.body.items.map((s: { name: string }) => s.name)).toEqual(["before-upgrade"]);
    const running = await h.call(tenant.token, "POST", `/v1/vps/${id}/restore-snapshot`, {
      snapshot: "before-upgrade",
    });
    expect([running.status, running.body.error.code]).toEqual([409, "INVALID_STATE"]);
    await h.db.vps.update({ where: { id }, data: { state: "stopped" } });
    const restore = await h.call(tenant.token, "POST", `/v1/vps/${id}/restore-snapshot`, {
      snapshot: "before-upgrade",
    });
    expect([restore.status, restore.body.action]).toEqual([202, "restore-snapshot"]);

    // A new VPS from it: its source's image, made on the node that keeps the snapshot.
    const tiny = await h.call(tenant.token, "POST", "/v1/vps", {
      name: "clone",
      plan: "nano",
      snapshot: "before-upgrade",
    });
    expect(tiny.status).toBe(202);
    await h.db.snapshot.update({ where: { id: r.body.id }, data: { sizeBytes: BigInt(100 * MiB) } });
    const small = await h.call(tenant.token, "POST", "/v1/vps", {
      name: "clone2",
      plan: "nano",
      snapshot: "before-upgrade",
    });
    expect([small.status, small.body.error.code]).toEqual([422, "UNPROCESSABLE"]);
    const clone = await h.db.vps.findUniqueOrThrow({ where: { id: tiny.body.id } });
    const source = await h.db.vps.findUniqueOrThrow({ where: { id } });
    expect(clone).toMatchObject({
      requestedNodeId: node,
      imageId: source.imageId,
      sourceSnapshotId: r.body.id,
    });
  });
});
