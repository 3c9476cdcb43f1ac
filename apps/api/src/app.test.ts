import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { hashToken, newToken, tokenPrefix } from "./auth/tokens.js";
import { BatchedRedisStore, batchSize } from "./http/rate-limit-store.js";
import { AGENT_TOKEN, type Harness, startHarness } from "./test-support/harness.js";

let h: Harness;
const GiB = 2 ** 30;

/** A node registered through the agents' endpoint (capacity chosen by the test). */
async function registerNode(
  name: string,
  capacity = { cpus: 4, memoryBytes: 4 * GiB, diskBytes: 100 * GiB },
) {
  const r = await h.call(AGENT_TOKEN, "POST", "/v1/nodes/register", {
    name,
    grpcAddress: "127.0.0.1:1",
    capacity,
    labels: { zone: "a" },
    agentVersion: "test",
    vms: [],
  });
  expect(r.status).toBe(200);
  return r.body.nodeId as string;
}

beforeAll(async () => {
  h = await startHarness();
  await registerNode("n1");
  await registerNode("n2");
});
afterAll(async () => {
  await h?.close();
});

describe("public endpoints", () => {
  it("answers health, readiness, metrics and the OpenAPI document without a token", async () => {
    expect((await h.call(null, "GET", "/healthz")).body).toEqual({ status: "ok" });
    const ready = await h.call(null, "GET", "/readyz");
    expect(ready.status).toBe(200);
    expect(ready.body.checks).toEqual({ postgres: "ok", redis: "ok" });
    const metrics = await h.call(null, "GET", "/metrics");
    expect(metrics.status).toBe(200);
    expect(metrics.headers["content-type"]).toContain("text/plain");
    expect(metrics.body).toMatch(/^# TYPE skiff_http_requests_total counter$/m);
    expect(metrics.body).toMatch(/^skiff_node_up\{node="n1"\} 1$/m);
    expect(metrics.body).toMatch(/^skiff_node_cpu_percent\{node="n1"\} 0$/m);
    expect(metrics.body).toMatch(/^skiff_queue_jobs\{queue="provision",state="waiting"\} \d+$/m);
    const doc = await h.call(null, "GET", "/openapi.json");
    expect(doc.body.openapi).toBe("3.1.0");
    expect(Object.keys(doc.body.paths)).toEqual(
      expect.arrayContaining([
        "/v1/vps",
        "/v1/vps/{id}",
        "/v1/vps/{id}/actions/{action}",
        "/v1/nodes",
        "/v1/events",
      ]),
    );
    expect(doc.body.components.schemas.Vps).toBeDefined();
    const ui = await h.app.inject({ method: "GET", url: "/docs/" });
    expect(ui.statusCode).toBe(200);
    expect(ui.body).toContain("swagger");
  });

  it("/metrics has the process, heartbeat ages, migration outcomes and downtimes, and per-VPS usage", async () => {
    const n1 = await h.db.node.findFirstOrThrow({ where: { name: "n1" } });
    const vmId = crypto.randomUUID();
    await h.call(AGENT_TOKEN, "POST", `/v1/nodes/${n1.id}/heartbeat`, {
      usage: { cpuPercent: 0, memoryUsedBytes: 0, vmCount: 1 },
      vms: [{ vmId, epoch: 1, state: "running", memoryBytes: 2 ** 20, cpuShare: 0.25 }],
    });
    const body = (await h.call(null, "GET", "/metrics")).body as string;
    expect(body).toMatch(/^skiff_process_event_loop_lag_p99_seconds \d/m);
    expect(body).toMatch(/^skiff_process_heap_used_bytes \d+$/m);
    expect(body).toMatch(/^skiff_node_heartbeat_age_seconds\{node="n1"\} \d/m);
    expect(body).toMatch(/^# TYPE skiff_migrations_finished gauge$/m);
    expect(body).toMatch(/^# TYPE skiff_migration_downtime_seconds histogram$/m);
    // Not a VPS this region knows: the VM keeps its id as its name.
    expect(body).toContain(`skiff_vps_cpu_cores{vps="${vmId}",id="${vmId}",node="n1"} 0.25`);
    expect(body).toContain(`skiff_vps_memory_bytes{vps="${vmId}",id="${vmId}",node="n1"} 1048576`);
  });

  it("renders unknown routes in the error shape", async () => {
    const r = await h.call(h.operatorToken, "GET", "/v1/nope");
    expect(r.status).toBe(404);
    expect(r.body).toEqual({ error: { code: "NOT_FOUND", message: "no route GET /v1/nope" } });
  });
});

describe("authentication and scopes", () => {
  it("401 without a token, with a wrong one, and with a revoked one", async () => {
    const none = await h.call(null, "GET", "/v1/vps");
    expect(none.status).toBe(401);
    expect(none.body.error.code).toBe("UNAUTHENTICATED");
    expect((await h.call("skiff_tn_nope", "GET", "/v1/vps")).status).toBe(401);
    const malformed = await h.app.inject({
      method: "GET",
      url: "/v1/vps",
      headers: { authorization: "Basic abc" },
    });
    expect(malformed.statusCode).toBe(401);

    const { token } = await h.tenant();
    const created = await h.call(token, "POST", "/v1/tokens", { name: "short-lived" });
    expect(created.status).toBe(201);
    expect(created.body.token).toMatch(/^skiff_tn_/);
    expect((await h.call(created.body.token, "GET", "/v1/vps")).status).toBe(200);
    expect((await h.call(token, "DELETE", `/v1/tokens/${created.body.id}`)).body.revokedAt).not.toBeNull();
    const revoked = await h.call(created.body.token, "GET", "/v1/vps");
    expect([revoked.status, revoked.body.error.details.reason]).toEqual([401, "revoked"]);
    expect(revoked.body.error.message).toMatch(/^token short-lived was revoked at \S+Z$/);
    expect((await h.call("skiff_tn_nope", "GET", "/v1/vps")).body.error.details.reason).toBe("unknown");
  });

  it("tells an expired token from a revoked one", async () => {
    const { projectId } = await h.tenant();
    const expired = await h.call(h.operatorToken, "POST", "/v1/tokens", { name: "old", project: projectId });
    await h.db.apiToken.update({
      where: { id: expired.body.id },
      data: { expiresAt: new Date(Date.now() - 1000) },
    });
    const r = await h.call(expired.body.token, "GET", "/v1/vps");
    expect([r.status, r.body.error.details.reason]).toEqual([401, "expired"]);
    expect(r.body.error.message).toMatch(/^token old expired at \S+Z$/);
  });

  it("whoami names the token, its kind and project; tokens take a project by name", async () => {
    await h.call(h.operatorToken, "POST", "/v1/projects", { name: "who" });
    const t = await h.call(h.operatorToken, "POST", "/v1/tokens", { name: "ci", project: "who" });
    expect(t.status).toBe(201);
    expect((await h.call(t.body.token, "GET", "/v1/whoami")).body).toMatchObject({
      kind: "tenant",
      tokenName: "ci",
      projectId: t.body.projectId,
      projectName: "who",
      expiresAt: null,
    });
    expect((await h.call(h.operatorToken, "GET", "/v1/whoami")).body).toMatchObject({ kind: "operator" });
    const missing = await h.call(h.operatorToken, "POST", "/v1/tokens", { name: "x", project: "nope" });
    expect([missing.status, missing.body.error.code]).toEqual([422, "INVALID_REFERENCE"]);
  });

  it("403 for tenants on operator endpoints, and the agent token only opens the agent endpoints", async () => {
    const { token } = await h.tenant();
    for (const [method, url] of [
      ["GET", "/v1/nodes"],
      ["POST", "/v1/plans"],
      ["POST", "/v1/projects"],
    ] as const) {
      const r = await h.call(token, method, url, method === "POST" ? {} : undefined);
      expect([r.status, r.body.error.code]).toEqual([403, "FORBIDDEN"]);
    }
    expect((await h.call(token, "POST", "/v1/tokens", { name: "x", scope: "operator" })).status).toBe(403);
    expect((await h.call(AGENT_TOKEN, "GET", "/v1/vps")).status).toBe(401);
    const asTenant = await h.call(token, "POST", "/v1/nodes/register", {
      name: "sneaky",
      grpcAddress: "h:1",
      capacity: { cpus: 1, memoryBytes: 1, diskBytes: 0 },
    });
    expect(asTenant.status).toBe(403);
  });
});

describe("validation", () => {
  const bad: [string, unknown][] = [
    ["missing everything", {}],
    ["bad name", { name: "Has Spaces", plan: "small" }],
    ["name too long", { name: "a".repeat(64), plan: "small" }],
    ["plan of wrong type", { name: "ok", plan: 42 }],
    ["unknown field", { name: "ok", plan: "small", colour: "blue" }],
    ["body is an array", [1, 2]],
    ["null plan", { name: "ok", plan: null }],
    ["empty plan", { name: "ok", plan: "" }],
    ["projectId not a uuid", { name: "ok", plan: "small", projectId: "nope" }],
  ];
  it.each(bad)("400 VALIDATION_FAILED for %s", async (_what, body) => {
    const r = await h.call(h.operatorToken, "POST", "/v1/vps", body);
    expect(r.status).toBe(400);
    expect(r.body.error.code).toBe("VALIDATION_FAILED");
    expect(Array.isArray(r.body.error.details.issues)).toBe(true);
  });

  it("400 for broken JSON, bad ids, bad query values and bad cursors; 415 for other media types", async () => {
    const json = await h.app.inject({
      method: "POST",
      url: "/v1/vps",
      headers: { authorization: `Bearer ${h.operatorToken}`, "content-type": "application/json" },
      payload: '{"name": "x",',
    });
    expect([json.statusCode, JSON.parse(json.body).error.code]).toEqual([400, "INVALID_JSON"]);
    const str = await h.app.inject({
      method: "POST",
      url: "/v1/vps",
      headers: { authorization: `Bearer ${h.operatorToken}`, "content-type": "application/json" },
      payload: '"vps"',
    });
    expect([str.statusCode, JSON.parse(str.body).error.code]).toEqual([400, "VALIDATION_FAILED"]);
    const text = await h.app.inject({
      method: "POST",
      url: "/v1/vps",
      headers: { authorization: `Bearer ${h.operatorToken}`, "content-type": "application/xml" },
      payload: "<vps/>",
    });
    expect(text.statusCode).toBe(415);
    expect(JSON.parse(text.body).error.code).toBe("UNSUPPORTED_MEDIA_TYPE");
    expect((await h.call(h.operatorToken, "GET", "/v1/vps/not-a-uuid")).status).toBe(400);
    expect((await h.call(h.operatorToken, "GET", "/v1/vps?limit=0")).status).toBe(400);
    expect((await h.call(h.operatorToken, "GET", "/v1/vps?limit=abc")).status).toBe(400);
    expect((await h.call(h.operatorToken, "GET", "/v1/vps?state=flying")).status).toBe(400);
    const cursor = await h.call(h.operatorToken, "GET", "/v1/vps?cursor=garbage");
    expect([cursor.status, cursor.body.error.code]).toEqual([400, "INVALID_CURSOR"]);
    expect((await h.call(h.operatorToken, "GET", "/v1/events?cursor=abc")).status).toBe(400);
    // Well-formed base64 JSON that this API never produced is refused too (not a 500 from the DB).
    const forged = Buffer.from(JSON.stringify({ t: "2020-01-01T00:00:00Z", id: "x" })).toString("base64url");
    expect((await h.call(h.operatorToken, "GET", `/v1/vps?cursor=${forged}`)).status).toBe(400);
    expect((await h.call(h.operatorToken, "GET", "/v1/events?since=2020-13-45T00:00:00Z")).status).toBe(400);
    expect((await h.call(h.operatorToken, "GET", "/v1/events?afterId=99999999999999999999")).status).toBe(
      400,
    );
    // 19 digits, but past a 64-bit event id: refused as a cursor, not a database error.
    const overflow = await h.call(h.operatorToken, "GET", "/v1/events?afterId=9223372036854775808");
    expect([overflow.status, overflow.body.error.code]).toEqual([400, "INVALID_CURSOR"]);
    const largest = await h.call(h.operatorToken, "GET", "/v1/events?cursor=9223372036854775807");
    expect([largest.status, largest.body.items]).toEqual([200, []]);
    expect((await h.call(h.operatorToken, "GET", "/v1/vps?name=%00")).status).toBe(400);
    const nulBody = await h.call(h.operatorToken, "POST", "/v1/tokens", {
      name: "a\u0000b",
      projectId: h.defaultProjectId,
    });
    expect([nulBody.status, nulBody.body.error.code]).toEqual([400, "VALIDATION_FAILED"]);
    const action = await h.call(h.operatorToken, "POST", `/v1/vps/${crypto.randomUUID()}/actions/explode`);
    expect(action.status).toBe(400);
    const bigBody = await h.call(h.operatorToken, "POST", "/v1/vps", {
      name: "x".repeat(2_000_000),
      plan: "small",
    });
    expect(bigBody.status).toBe(413);
    const idem = await h.call(
      h.operatorToken,
      "POST",
      "/v1/vps",
      { name: "ok", plan: "small" },
      { "idempotency-key": "has space" },
    );
    expect(idem.status).toBe(400);
  });

  it("422 for references that do not exist and for plans no node can ever hold", async () => {
    const plan = await h.call(h.operatorToken, "POST", "/v1/vps", { name: "ref1", plan: "no-such-plan" });
    expect([plan.status, plan.body.error.code, plan.body.error.details.field]).toEqual([
      422,
      "INVALID_REFERENCE",
      "plan",
    ]);
    const img = await h.call(h.operatorToken, "POST", "/v1/vps", {
      name: "ref2",
      plan: "small",
      image: "nope",
    });
    expect(img.body.error.details.field).toBe("image");
    const huge = { name: "huge", vcpus: 2, memoryBytes: 64 * GiB, diskBytes: GiB };
    const refused = await h.call(h.operatorToken, "POST", "/v1/plans", huge);
    expect([refused.status, refused.body.error.code]).toEqual([422, "NO_NODE_FITS"]);
    expect(refused.body.error.message).toContain("the node with the most memory has 4 CPUs, 4096 MiB memory");
    // A plan that fits once was made (nodes come and go): its creates are refused the same way.
    await h.db.plan.create({
      data: { ...huge, memoryBytes: BigInt(huge.memoryBytes), diskBytes: BigInt(GiB) },
    });
    const r = await h.call(h.operatorToken, "POST", "/v1/vps", { name: "toobig", plan: "huge" });
    expect([r.status, r.body.error.code]).toEqual([422, "NO_NODE_FITS"]);
  });
});

describe("VPS resources", () => {
  it("creates a VPS: 202 pending, a provisioning job, an event", async () => {
    const { token, projectId } = await h.tenant();
    const r = await h.call(token, "POST", "/v1/vps", { name: "web-1", plan: "small" });
    expect(r.status).toBe(202);
    expect(r.body).toMatchObject({ name: "web-1", state: "pending", action: "create", projectId, epoch: 0 });
    expect(r.body.memoryBytes).toBe(64 * 2 ** 20);
    const jobs = await h.queues.provision.getJobs(["waiting", "delayed", "active"]);
    expect(jobs.map((j) => j.data.vpsId)).toContain(r.body.id);
    const ev = await h.call(token, "GET", `/v1/events?resourceType=vps&resourceId=${r.body.id}`);
    expect(ev.body.items.map((e: { type: string }) => e.type)).toEqual(["vps.created"]);
    expect(ev.body.items[0].toState).toBe("pending");
  });

  it("404 across projects for every VPS route (a tenant never learns another's VPS exists)", async () => {
    const a = await h.tenant();
    const b = await h.tenant();
    const v = (await h.call(a.token, "POST", "/v1/vps", { name: "secret", plan: "nano" })).body;
    const missing = crypto.randomUUID();
    for (const id of [v.id, missing]) {
      const get = await h.call(b.token, "GET", `/v1/vps/${id}`);
      expect([get.status, get.body.error.code]).toEqual([404, "VPS_NOT_FOUND"]);
      expect((await h.call(b.token, "DELETE", `/v1/vps/${id}`)).status).toBe(404);
      expect((await h.call(b.token, "POST", `/v1/vps/${id}/actions/stop`)).status).toBe(404);
    }
    // Same message for "someone else's" and "no such": nothing to tell them apart.
    const other = await h.call(b.token, "GET", `/v1/vps/${v.id}`);
    expect(other.body.error.message).toBe(`no VPS ${v.id}`);
    expect((await h.call(b.token, "GET", "/v1/vps")).body.items).toEqual([]);
    const events = await h.call(b.token, "GET", `/v1/events?resourceId=${v.id}`);
    expect(events.body.items).toEqual([]);
    expect((await h.call(a.token, "GET", `/v1/vps/${v.id}`)).status).toBe(200);
    expect((await h.call(h.operatorToken, "GET", `/v1/vps/${v.id}`)).status).toBe(200);
  });

  it("409 while an action holds the VPS, and for actions its state does not allow", async () => {
    const { token } = await h.tenant();
    const v = (await h.call(token, "POST", "/v1/vps", { name: "busy", plan: "nano" })).body;
    const r = await h.call(token, "POST", `/v1/vps/${v.id}/actions/stop`);
    expect([r.status, r.body.error.code, r.body.error.details.action]).toEqual([409, "VPS_BUSY", "create"]);
    expect((await h.call(token, "DELETE", `/v1/vps/${v.id}`)).status).toBe(409);

    // Pretend provisioning finished: running, no action.
    await h.db.vps.update({ where: { id: v.id }, data: { state: "running", action: null, actionId: null } });
    const start = await h.call(token, "POST", `/v1/vps/${v.id}/actions/start`);
    expect([start.status, start.body.error.code]).toEqual([409, "INVALID_STATE"]);
    expect(start.body.error.details.allowedFrom).toEqual(["stopped"]);

    const stop = await h.call(token, "POST", `/v1/vps/${v.id}/actions/stop`);
    expect([stop.status, stop.body.state, stop.body.action]).toEqual([202, "stopping", "stop"]);
    const again = await h.call(token, "POST", `/v1/vps/${v.id}/actions/pause`);
    expect([again.status, again.body.error.code]).toEqual([409, "VPS_BUSY"]);
    const jobs = await h.queues.lifecycle.getJobs(["waiting", "delayed", "active"]);
    expect(jobs.find((j) => j.data.vpsId === v.id)?.data.action).toBe("stop");
  });

  it("allows exactly one of many concurrent actions on one VPS", async () => {
    const { token } = await h.tenant();
    const v = (await h.call(token, "POST", "/v1/vps", { name: "race", plan: "nano" })).body;
    await h.db.vps.update({ where: { id: v.id }, data: { state: "running", action: null, actionId: null } });
    const results = await Promise.all(
      ["stop", "pause", "reboot", "suspend", "stop", "pause"].map((a) =>
        h.call(token, "POST", `/v1/vps/${v.id}/actions/${a}`),
      ),
    );
    expect(results.filter((r) => r.status === 202)).toHaveLength(1);
    expect(results.filter((r) => r.status === 409)).toHaveLength(5);
  });

  it("409 NAME_TAKEN for a second live VPS of the same name in a project", async () => {
    const { token } = await h.tenant();
    expect((await h.call(token, "POST", "/v1/vps", { name: "dup", plan: "nano" })).status).toBe(202);
    const r = await h.call(token, "POST", "/v1/vps", { name: "dup", plan: "nano" });
    expect([r.status, r.body.error.code]).toEqual([409, "NAME_TAKEN"]);
    const other = await h.tenant();
    expect((await h.call(other.token, "POST", "/v1/vps", { name: "dup", plan: "nano" })).status).toBe(202);
  });

  it("422 QUOTA_EXCEEDED past the project's quotas, also under concurrent creates", async () => {
    const { token } = await h.tenant(undefined, { maxVps: 3 });
    const results = await Promise.all(
      Array.from({ length: 8 }, (_, i) => h.call(token, "POST", "/v1/vps", { name: `q${i}`, plan: "nano" })),
    );
    expect(results.filter((r) => r.status === 202)).toHaveLength(3);
    const refused = results.filter((r) => r.status === 422);
    expect(refused).toHaveLength(5);
    expect(refused[0]!.body.error.code).toBe("QUOTA_EXCEEDED");
  });

  it("paginates with cursors, without gaps or repeats, and filters", async () => {
    const { token, projectId } = await h.tenant();
    const names = Array.from({ length: 7 }, (_, i) => `p${i}`);
    for (const name of names) await h.call(token, "POST", "/v1/vps", { name, plan: "nano" });
    const seen: string[] = [];
    let cursor: string | null = null;
    let pages = 0;
    do {
      const r = await h.call(token, "GET", `/v1/vps?limit=3${cursor ? `&cursor=${cursor}` : ""}`);
      expect(r.status).toBe(200);
      seen.push(...r.body.items.map((v: { name: string }) => v.name));
      cursor = r.body.nextCursor;
      pages++;
    } while (cursor);
    expect(pages).toBe(3);
    expect(seen).toEqual(names);
    const byName = await h.call(token, "GET", "/v1/vps?name=p3");
    expect(byName.body.items.map((v: { name: string }) => v.name)).toEqual(["p3"]);
    const running = await h.call(token, "GET", "/v1/vps?state=running");
    expect(running.body.items).toEqual([]);
    const asOperator = await h.call(
      h.operatorToken,
      "GET",
      `/v1/vps?projectId=${projectId}&includeDeleted=true`,
    );
    expect(asOperator.body.items.map((v: { name: string }) => v.name)).toEqual(names);
  });
});

describe("idempotency", () => {
  it("replays the first answer for the same key and body, once created", async () => {
    const { token } = await h.tenant();
    const headers = { "idempotency-key": "create-web-9" };
    const first = await h.call(token, "POST", "/v1/vps", { name: "web-9", plan: "nano" }, headers);
    const second = await h.call(token, "POST", "/v1/vps", { name: "web-9", plan: "nano" }, headers);
    expect(first.status).toBe(202);
    expect(second.status).toBe(202);
    expect(second.body).toEqual(first.body);
    expect(second.headers["idempotent-replayed"]).toBe("true");
    expect(await h.db.vps.count({ where: { name: "web-9" } })).toBe(1);

    const reused = await h.call(token, "POST", "/v1/vps", { name: "web-10", plan: "nano" }, headers);
    expect([reused.status, reused.body.error.code]).toEqual([422, "IDEMPOTENCY_KEY_REUSED"]);
    // Keys belong to a token: another tenant's identical key is a different key.
    const other = await h.tenant();
    const theirs = await h.call(other.token, "POST", "/v1/vps", { name: "web-9", plan: "nano" }, headers);
    expect(theirs.status).toBe(202);
    expect(theirs.body.id).not.toBe(first.body.id);
  });

  it("runs concurrent retries of one key once", async () => {
    const { token } = await h.tenant();
    const headers = { "idempotency-key": "burst" };
    const results = await Promise.all(
      Array.from({ length: 6 }, () =>
        h.call(token, "POST", "/v1/vps", { name: "burst", plan: "nano" }, headers),
      ),
    );
    const created = results.filter((r) => r.status === 202);
    expect(created.length).toBeGreaterThanOrEqual(1);
    expect(new Set(created.map((r) => r.body.id)).size).toBe(1);
    for (const r of results.filter((x) => x.status !== 202))
      expect(r.body.error.code).toBe("IDEMPOTENCY_IN_PROGRESS");
    expect(await h.db.vps.count({ where: { name: "burst" } })).toBe(1);
  });

  it("makes actions idempotent and stores client errors too", async () => {
    const { token } = await h.tenant();
    const v = (await h.call(token, "POST", "/v1/vps", { name: "act", plan: "nano" })).body;
    await h.db.vps.update({ where: { id: v.id }, data: { state: "running", action: null, actionId: null } });
    const headers = { "idempotency-key": "pause-1" };
    const a = await h.call(token, "POST", `/v1/vps/${v.id}/actions/pause`, undefined, headers);
    const b = await h.call(token, "POST", `/v1/vps/${v.id}/actions/pause`, undefined, headers);
    expect([a.status, b.status]).toEqual([202, 202]);
    expect(b.headers["idempotent-replayed"]).toBe("true");
    // A plain retry without the key is a new request, refused while the first holds the VPS.
    expect((await h.call(token, "POST", `/v1/vps/${v.id}/actions/pause`)).status).toBe(409);

    const k = { "idempotency-key": "bad-plan" };
    const x = await h.call(token, "POST", "/v1/vps", { name: "nope", plan: "nope" }, k);
    const y = await h.call(token, "POST", "/v1/vps", { name: "nope", plan: "nope" }, k);
    expect([x.status, y.status, y.headers["idempotent-replayed"]]).toEqual([422, 422, "true"]);
  });
});

describe("nodes and agents", () => {
  it("registers (upsert by name), heartbeats, and says NODE_NOT_FOUND to re-register", async () => {
    const id = await registerNode("n3");
    expect(await registerNode("n3")).toBe(id);
    const hb = await h.call(AGENT_TOKEN, "POST", `/v1/nodes/${id}/heartbeat`, {
      usage: { cpuPercent: 12.5, memoryUsedBytes: 1000, vmCount: 0 },
      vms: [],
    });
    expect([hb.status, hb.body.ok]).toEqual([200, true]);
    expect(Math.abs(hb.body.serverTimeMs - Date.now())).toBeLessThan(60_000);
    const node = await h.call(h.operatorToken, "GET", `/v1/nodes/${id}`);
    expect(node.body).toMatchObject({ name: "n3", status: "ready", labels: { zone: "a" } });
    expect(node.body.usage).toEqual({ cpuPercent: 12.5, memoryUsedBytes: 1000, vmCount: 0 });
    const gone = await h.call(AGENT_TOKEN, "POST", `/v1/nodes/${crypto.randomUUID()}/heartbeat`, {
      usage: { cpuPercent: 0, memoryUsedBytes: 0, vmCount: 0 },
      vms: [],
    });
    expect([gone.status, gone.body.error.code]).toEqual([404, "NODE_NOT_FOUND"]);
    const badReg = await h.call(AGENT_TOKEN, "POST", "/v1/nodes/register", {
      name: "x",
      grpcAddress: "nope",
    });
    expect(badReg.status).toBe(400);
  });

  it("marks silent nodes unreachable (and their idle VPSes unknown), and back when they heartbeat", async () => {
    const id = await registerNode("n-silent");
    const { token } = await h.tenant();
    const v = (await h.call(token, "POST", "/v1/vps", { name: "on-silent", plan: "nano" })).body;
    await h.db.vps.update({
      where: { id: v.id },
      data: { state: "running", nodeId: id, epoch: 1, action: null, actionId: null },
    });
    await h.db.node.update({ where: { id }, data: { lastHeartbeatAt: new Date(Date.now() - 60_000) } });
    const marked = await h.app.services.nodes.markSilentNodes(10_000);
    // Nodes registered by earlier tests may have gone quiet too on a slow run: only this one matters.
    expect(marked).toContain(id);
    expect((await h.call(h.operatorToken, "GET", `/v1/nodes/${id}`)).body.status).toBe("unreachable");
    expect((await h.call(token, "GET", `/v1/vps/${v.id}`)).body).toMatchObject({ state: "unknown" });
    await h.call(AGENT_TOKEN, "POST", `/v1/nodes/${id}/heartbeat`, {
      usage: { cpuPercent: 1, memoryUsedBytes: 1, vmCount: 1 },
      vms: [{ vmId: v.id, epoch: 1, state: "running", memoryBytes: 1 }],
    });
    expect((await h.call(h.operatorToken, "GET", `/v1/nodes/${id}`)).body.status).toBe("ready");
    expect((await h.call(token, "GET", `/v1/vps/${v.id}`)).body).toMatchObject({ state: "running" });
    const types = (await h.call(h.operatorToken, "GET", `/v1/events?resourceId=${id}`)).body.items.map(
      (e: { type: string }) => e.type,
    );
    expect(types).toEqual(["node.registered", "node.unreachable", "node.recovered"]);
  });

  it("judges a VPS only on reports taken after its last change, however late they arrive", async () => {
    const id = await registerNode("n-late");
    const { token } = await h.tenant();
    const v = (await h.call(token, "POST", "/v1/vps", { name: "moved-in", plan: "nano" })).body;
    // It settled here a minute ago (a migration's end, say), past the two-heartbeat guard.
    const settledAt = new Date(Date.now() - 60_000);
    await h.db.vps.update({
      where: { id: v.id },
      data: { state: "running", nodeId: id, epoch: 2, action: null, actionId: null, updatedAt: settledAt },
    });
    const beat = (capturedAfterMs: number) =>
      h.call(AGENT_TOKEN, "POST", `/v1/nodes/${id}/heartbeat`, {
        usage: { cpuPercent: 0, memoryUsedBytes: 0, vmCount: 0 },
        vms: [],
        capturedAfterMs,
      });
    // A report taken before it arrived (the agent froze between taking and sending it): ignored.
    const late = await beat(settledAt.getTime() - 5_000);
    expect(late.status).toBe(200);
    expect((await h.call(token, "GET", `/v1/vps/${v.id}`)).body.state).toBe("running");
    // A report taken after the API's answer to that one, still without the VM: it is gone.
    await beat(late.body.serverTimeMs);
    const after = (await h.call(token, "GET", `/v1/vps/${v.id}`)).body;
    expect(after.state).toBe("error");
    const events = (await h.call(token, "GET", `/v1/events?resourceId=${v.id}&type=vps.state_observed`)).body
      .items as { message: string }[];
    expect(events.map((e) => e.message)).toEqual(["the node no longer has this VM"]);
  });

  it("drains and undrains (operators), with events", async () => {
    const id = await registerNode("n-drain");
    const d = await h.call(h.operatorToken, "POST", `/v1/nodes/${id}/drain`);
    expect([d.status, d.body.maintenance]).toEqual([200, true]);
    const list = await h.call(h.operatorToken, "GET", "/v1/nodes?maintenance=true");
    expect(list.body.items.map((n: { name: string }) => n.name)).toEqual(["n-drain"]);
    const u = await h.call(h.operatorToken, "POST", `/v1/nodes/${id}/undrain`);
    expect(u.body.maintenance).toBe(false);
    expect((await h.call(h.operatorToken, "POST", `/v1/nodes/${crypto.randomUUID()}/drain`)).status).toBe(
      404,
    );
  });

  it("lists nodes a page at a time, each with what its VPSes reserve (a migration's target too)", async () => {
    const a = await registerNode("n-res-a");
    const b = await registerNode("n-res-b");
    const plan = await h.db.plan.findFirstOrThrow({ where: { name: "nano" } });
    const image = await h.db.image.findFirstOrThrow({ where: { isDefault: true } });
    const vps = (name: string, nodeId: string, state: "running" | "deleted") =>
      h.db.vps.create({
        data: {
          projectId: h.defaultProjectId,
          name,
          planId: plan.id,
          imageId: image.id,
          nodeId,
          state,
          vcpus: plan.vcpus,
          memoryBytes: plan.memoryBytes,
          diskBytes: plan.diskBytes,
          cpuShare: plan.cpuShare,
        },
      });
    await vps("res-1", a, "running");
    await vps("res-2", a, "deleted"); // reserves nothing
    const moving = await vps("res-3", b, "running");
    await h.db.migration.create({
      data: { vpsId: moving.id, sourceNodeId: b, targetNodeId: a, sourceEpoch: 1, targetEpoch: 2 },
    });
    const seen = new Map<string, unknown>();
    let cursor: string | null = null;
    do {
      const r = await h.call(h.operatorToken, "GET", `/v1/nodes?limit=2${cursor ? `&cursor=${cursor}` : ""}`);
      expect(r.status).toBe(200);
      for (const n of r.body.items) {
        expect(seen.has(n.name)).toBe(false);
        seen.set(n.name, n.reserved);
      }
      cursor = r.body.nextCursor;
    } while (cursor);
    expect(seen.size).toBe(await h.db.node.count());
    const times = (k: number) => ({
      vpsCount: k,
      vcpus: k * plan.vcpus,
      cpuShare: k * plan.cpuShare,
      memoryBytes: k * Number(plan.memoryBytes),
      diskBytes: k * Number(plan.diskBytes),
    });
    expect(seen.get("n-res-a")).toEqual(times(2));
    expect(seen.get("n-res-b")).toEqual(times(1));
    const filtered = await h.call(h.operatorToken, "GET", "/v1/nodes?status=fenced");
    expect([filtered.status, filtered.body.items]).toEqual([200, []]);
  });
});

describe("catalog, tokens, projects", () => {
  it("lists plans and images to everyone, with the seeded default image", async () => {
    const { token } = await h.tenant();
    const plans = await h.call(token, "GET", "/v1/plans");
    expect(plans.body.items.map((p: { name: string }) => p.name)).toEqual(
      expect.arrayContaining(["nano", "small"]),
    );
    // Plans are read from memory between changes: a new one is listed at once, pages still chain.
    const made = await h.call(h.operatorToken, "POST", "/v1/plans", {
      name: "listed",
      vcpus: 1,
      memoryBytes: 2 ** 20,
      diskBytes: 0,
    });
    expect(made.status).toBe(201);
    const names: string[] = [];
    let cursor: string | null = null;
    do {
      const q: string = cursor ? `&cursor=${cursor}` : "";
      const page = await h.call(token, "GET", `/v1/plans?limit=2${q}`);
      names.push(...page.body.items.map((p: { name: string }) => p.name));
      cursor = page.body.nextCursor;
    } while (cursor);
    expect(names).toEqual(
      (await h.db.plan.findMany({ orderBy: [{ createdAt: "asc" }, { id: "asc" }] })).map((p) => p.name),
    );
    expect(names).toContain("listed");
    expect((await h.call(h.operatorToken, "DELETE", `/v1/plans/${made.body.id}`)).status).toBe(204);
    expect(
      (await h.call(token, "GET", "/v1/plans")).body.items.map((p: { name: string }) => p.name),
    ).not.toContain("listed");
    const images = await h.call(token, "GET", "/v1/images");
    const linux = images.body.items.find((i: { name: string }) => i.name === "linux");
    expect(linux).toMatchObject({ isDefault: true, kernelPath: "guests/linux/Image", bootMode: "linux" });
    const img = await h.call(h.operatorToken, "POST", "/v1/images", {
      name: "bad",
      kernelPath: "../etc/passwd",
    });
    expect(img.status).toBe(400);
  });

  it("creates projects with quotas and placement groups; names are unique", async () => {
    const p = await h.call(h.operatorToken, "POST", "/v1/projects", { name: "acme", quotas: { maxVps: 2 } });
    expect([p.status, p.body.quotas.maxVps]).toEqual([201, 2]);
    expect((await h.call(h.operatorToken, "POST", "/v1/projects", { name: "acme" })).status).toBe(409);
    const { token } = await h.tenant();
    const g = await h.call(token, "POST", "/v1/placement-groups", { name: "db", policy: "anti_affinity" });
    expect([g.status, g.body.strict]).toEqual([201, true]);
    const other = await h.tenant();
    expect((await h.call(other.token, "GET", `/v1/placement-groups/${g.body.id}`)).status).toBe(404);
    const v = await h.call(other.token, "POST", "/v1/vps", {
      name: "x",
      plan: "nano",
      placementGroup: g.body.id,
    });
    expect([v.status, v.body.error.details.field]).toEqual([422, "placementGroup"]);
  });
});

describe("rate limiting", () => {
  // Tenant tokens and client addresses 5 a minute, operator tokens 8.
  let limited: Harness;
  beforeAll(async () => {
    limited = await startHarness({ rateLimitPerMinute: 5, operatorRateLimitPerMinute: 8 });
  });
  afterAll(async () => {
    await limited?.close();
  });

  it("counts invalid tokens against the client address: rotating made-up tokens does not escape", async () => {
    const bogus = () => `skiff_op_${crypto.randomUUID()}`;
    const statuses: number[] = [];
    for (let i = 0; i < 7; i++) statuses.push((await limited.call(bogus(), "GET", "/v1/plans")).status);
    expect(statuses).toEqual([401, 401, 401, 401, 401, 429, 429]);
    // No token at all: the same address, the same bucket.
    expect((await limited.call(null, "GET", "/v1/plans")).status).toBe(429);
    // A valid token has its own bucket, whatever its address did.
    expect((await limited.call(limited.operatorToken, "GET", "/v1/plans")).status).toBe(200);
    // Another client address has its own (behind a proxy: X-Forwarded-For).
    const other = await limited.call(bogus(), "GET", "/v1/plans", undefined, {
      "x-forwarded-for": "127.0.0.2",
    });
    expect(other.status).toBe(401);
  });

  it("429 in the error shape past a tenant token's limit; operator tokens have a larger one", async () => {
    const { token } = await limited.tenant();
    const statuses: number[] = [];
    for (let i = 0; i < 5; i++) statuses.push((await limited.call(token, "GET", "/v1/plans")).status);
    expect(statuses).toEqual([200, 200, 200, 200, 200]);
    const r = await limited.call(token, "GET", "/v1/plans");
    expect([r.status, r.body.error.code]).toEqual([429, "RATE_LIMITED"]);
    expect(r.headers["retry-after"]).toBeDefined();
    // Health checks are never limited.
    expect((await limited.call(null, "GET", "/healthz")).status).toBe(200);

    const operator = newToken("operator");
    await limited.db.apiToken.create({
      data: { name: "op2", prefix: tokenPrefix(operator), hash: hashToken(operator), scope: "operator" },
    });
    const ops: number[] = [];
    for (let i = 0; i < 9; i++) ops.push((await limited.call(operator, "GET", "/v1/plans")).status);
    expect(ops).toEqual([200, 200, 200, 200, 200, 200, 200, 200, 429]);
  });

  it("takes the counter in batches: two replicas never let more than the limit through", async () => {
    const replicas = [
      new BatchedRedisStore(limited.redis, "test-rl-"),
      new BatchedRedisStore(limited.redis, "test-rl-"),
    ];
    const incr = (i: number) =>
      new Promise<{ current: number; ttl: number }>((resolve, reject) =>
        replicas[i % 3 === 0 ? 1 : 0]!.incr("k", (err, r) => (err ? reject(err) : resolve(r!)), 60_000, 1000),
      );
    const numbers: number[] = [];
    for (let i = 0; i < 1100; i++) {
      const r = await incr(i);
      expect(r.ttl).toBeGreaterThan(0);
      expect(r.ttl).toBeLessThanOrEqual(60_000);
      numbers.push(r.current);
    }
    expect(new Set(numbers).size).toBe(1100); // no number given twice
    expect([numbers[0], numbers[3]]).toEqual([1, 2]); // requests 0 and 3 on the same replica: its batch
    const allowed = numbers.filter((n) => n <= 1000).length;
    expect(allowed).toBeLessThanOrEqual(1000);
    expect(allowed).toBeGreaterThanOrEqual(1000 - 2 * (batchSize(1000) - 1));
    // One Redis call per batch of 10: what Redis counted is what was reserved.
    expect(Number(await limited.redis.get("test-rl-k"))).toBeLessThanOrEqual(1100 + 2 * batchSize(1000));
  });

  it("a burst that finds the batch spent shares one reservation: no numbers lost to it", async () => {
    const store = new BatchedRedisStore(limited.redis, "test-burst-");
    const incr = () =>
      new Promise<number>((resolve, reject) =>
        store.incr("k", (err, r) => (err ? reject(err) : resolve(r!.current)), 60_000, 1000),
      );
    // 35 at once with batches of 10: four reservations, numbers 1..35 in order of arrival.
    const numbers = await Promise.all(Array.from({ length: 35 }, incr));
    expect(numbers).toEqual(Array.from({ length: 35 }, (_, i) => i + 1));
    expect(Number(await limited.redis.get("test-burst-k"))).toBe(40);
  });
});
