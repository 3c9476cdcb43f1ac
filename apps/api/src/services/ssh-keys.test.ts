// SSH keys on the real database: added, refused with a reason, scoped to their project, copied
// into a new VPS (and kept there when the key goes). The guest's side runs in tests/e2e/ssh.test.ts.
import { freePort } from "@skiff/devkit";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { AGENT_TOKEN, type Harness, startHarness } from "../test-support/harness.js";

const MiB = 2 ** 20;
// A well-formed ed25519 key (32 bytes of 0x11), and its fingerprint as ssh-keygen -l prints it.
const KEY_BLOB = Buffer.concat([
  Buffer.from([0, 0, 0, 11]),
  Buffer.from("ssh-ed25519"),
  Buffer.from([0, 0, 0, 32]),
  Buffer.alloc(32, 0x11),
]).toString("base64");
const KEY = `ssh-ed25519 ${KEY_BLOB} alice@laptop`;

let h: Harness;
let tenant: { token: string; projectId: string };
let other: { token: string; projectId: string };

beforeAll(async () => {
  h = await startHarness();
  // An agent that is not there: VPS creation stops at the queue.
  await h.call(AGENT_TOKEN, "POST", "/v1/nodes/register", {
    name: "ssh-a",
    grpcAddress: `127.0.0.1:${await freePort()}`,
    capacity: { cpus: 2, memoryBytes: 600 * MiB, diskBytes: 1000 * MiB },
  });
  tenant = await h.tenant("keys");
  other = await h.tenant("others");
});
afterAll(async () => {
  await h?.close();
});

describe("ssh keys", () => {
  it("adds a key with its fingerprint, refuses a bad or repeated one with a code, and scopes it to the project", async () => {
    const added = await h.call(tenant.token, "POST", "/v1/ssh-keys", {
      name: "alice",
      publicKey: `${KEY}\n`,
    });
    expect(added.status).toBe(201);
    expect(added.body).toMatchObject({ name: "alice", publicKey: KEY, projectId: tenant.projectId });
    expect(added.body.fingerprint).toMatch(/^SHA256:[A-Za-z0-9+/]{43}$/);

    const bad = await h.call(tenant.token, "POST", "/v1/ssh-keys", {
      name: "bad",
      publicKey: "ssh-rsa AAAA",
    });
    expect([bad.status, bad.body.error.code, bad.body.error.details]).toEqual([
      400,
      "VALIDATION_FAILED",
      { field: "publicKey", problem: "malformed-key" },
    ]);
    const again = await h.call(tenant.token, "POST", "/v1/ssh-keys", { name: "alice2", publicKey: KEY });
    expect([again.status, again.body.error.code]).toEqual([409, "NAME_TAKEN"]);

    expect(
      (await h.call(tenant.token, "GET", "/v1/ssh-keys")).body.items.map((k: { name: string }) => k.name),
    ).toEqual(["alice"]);
    expect((await h.call(other.token, "GET", "/v1/ssh-keys")).body.items).toEqual([]);
    const hidden = await h.call(other.token, "GET", "/v1/ssh-keys/alice");
    expect([hidden.status, hidden.body.error.code]).toEqual([404, "SSH_KEY_NOT_FOUND"]);
    expect((await h.call(other.token, "DELETE", `/v1/ssh-keys/${added.body.id}`)).status).toBe(404);
    // Another project may hold the same key under its own name.
    expect(
      (await h.call(other.token, "POST", "/v1/ssh-keys", { name: "alice", publicKey: KEY })).status,
    ).toBe(201);
  });

  it("gives a new VPS the keys it names, refuses one the project lacks, and the VPS keeps its copy", async () => {
    const vps = await h.call(tenant.token, "POST", "/v1/vps", {
      name: "web",
      plan: "small",
      sshKeys: ["alice"],
    });
    expect([vps.status, vps.body.sshKeys]).toEqual([202, [KEY]]);
    const missing = await h.call(tenant.token, "POST", "/v1/vps", {
      name: "web2",
      plan: "small",
      sshKeys: ["bob"],
    });
    expect([missing.status, missing.body.error.code, missing.body.error.details]).toEqual([
      422,
      "INVALID_REFERENCE",
      { field: "sshKeys", ref: "bob" },
    ]);
    expect((await h.call(tenant.token, "DELETE", "/v1/ssh-keys/alice")).status).toBe(204);
    expect((await h.call(tenant.token, "GET", `/v1/vps/${vps.body.id}`)).body.sshKeys).toEqual([KEY]);
  });
});
