import { execFileSync } from "node:child_process";
import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { parseSshPublicKey } from "./ssh-key.js";

let dir: string;
const keys: Record<string, { line: string; fingerprint: string }> = {};

/** Real keys from ssh-keygen, with the fingerprint it prints for each. */
function keygen(name: string, ...args: string[]) {
  const file = join(dir, name);
  execFileSync("ssh-keygen", ["-q", "-N", "", "-C", `${name}@test`, "-f", file, ...args]);
  const line = readFileSync(`${file}.pub`, "utf8");
  const fingerprint = execFileSync("ssh-keygen", ["-l", "-E", "sha256", "-f", `${file}.pub`], {
    encoding: "utf8",
  }).split(" ")[1];
  keys[name] = { line, fingerprint };
}

beforeAll(() => {
  dir = mkdtempSync(join(tmpdir(), "skiff-sshkey-"));
  keygen("ed25519", "-t", "ed25519");
  keygen("ecdsa", "-t", "ecdsa", "-b", "384");
  keygen("rsa", "-t", "rsa", "-b", "2048");
  keygen("rsa1024", "-t", "rsa", "-b", "1024");
});
afterAll(() => rmSync(dir, { recursive: true, force: true }));

describe("parseSshPublicKey", () => {
  it("reads ssh-keygen's keys with the fingerprint ssh-keygen shows", () => {
    for (const [name, bits] of [
      ["ed25519", 256],
      ["ecdsa", 384],
      ["rsa", 2048],
    ] as const) {
      const parsed = parseSshPublicKey(keys[name].line);
      expect(parsed.ok, name).toBe(true);
      if (!parsed.ok) continue;
      expect(parsed.key.fingerprint).toBe(keys[name].fingerprint);
      expect(parsed.key.line).toBe(keys[name].line.trim());
      expect(parsed.key.comment).toBe(`${name}@test`);
      expect(parsed.key.bits).toBe(bits);
    }
  });

  it("refuses what is not one good key, saying why", () => {
    const [type, data] = keys.ed25519.line.split(" ");
    const rsaData = keys.rsa.line.split(" ")[1];
    const cases: [string, string][] = [
      ["", "empty"],
      ["   \n", "empty"],
      [`${keys.ed25519.line.trim()}\n${keys.rsa.line}`, "not-one-line"],
      [`command="rm -rf /" ${keys.ed25519.line}`, "unsupported-type"],
      [`ssh-dss ${data}`, "unsupported-type"],
      [`${type} ${data.slice(0, -1)}`, "bad-base64"],
      [`${type} ${data.replace(/.$/, "*")}`, "bad-base64"],
      [`${type}`, "bad-base64"],
      [`ssh-rsa ${data}`, "type-mismatch"],
      [
        `${type} ${Buffer.from(Buffer.from(data, "base64").subarray(0, 30)).toString("base64")}`,
        "malformed-key",
      ],
      [
        `${type} ${Buffer.concat([Buffer.from(data, "base64"), Buffer.alloc(4)]).toString("base64")}`,
        "malformed-key",
      ],
      [keys.rsa1024.line, "rsa-too-small"],
      [`${type} ${data} a\u0007b`, "bad-comment"],
      [`ssh-rsa ${rsaData}${"A".repeat(8192)}`, "too-long"],
    ];
    for (const [text, problem] of cases)
      expect(parseSshPublicKey(text), problem).toEqual({ ok: false, problem });
  });
});
