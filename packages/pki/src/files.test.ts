import { mkdtempSync, readFileSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { ensureIssued, initCa, loadTls, saveIssued } from "./files.js";
import { createCa, issueCert } from "./issue.js";

describe("the certificate directory", () => {
  it("keeps a CA and a valid certificate, renews one that expires soon", async () => {
    const dir = mkdtempSync(join(tmpdir(), "skiff-pki-"));
    expect(await initCa(dir, "t")).toBe(true);
    expect(await initCa(dir, "t")).toBe(false);
    const first = await ensureIssued(dir, "node:n1");
    expect(first.issued).toBe(true);
    expect(first.files.cert).toBe(join(dir, "node-n1.pem"));
    expect((await ensureIssued(dir, "node:n1")).issued).toBe(false);
    expect((await ensureIssued(dir, "node:n1", { renewDays: 10_000 })).issued).toBe(true);
    expect((await ensureIssued(dir, "node:n1", { renew: true })).issued).toBe(true);
    expect(loadTls(first.files, "node:n1").identity).toBe("node:n1");
  });

  it("stops a process whose own material is malformed, foreign or not its own, with a code", async () => {
    const dir = mkdtempSync(join(tmpdir(), "skiff-pki-"));
    await initCa(dir, "t");
    const { files } = await ensureIssued(dir, "node:n1");
    expect(() => loadTls(files, "node:n2")).toThrow(
      expect.objectContaining({ code: "TLS_MATERIAL_INVALID" }),
    );
    saveIssued(dir, "node:n1", await issueCert(await createCa("x"), "node:n1", { days: 9 }));
    expect(() => loadTls(files)).toThrow(/wrong-ca/);
    writeFileSync(files.cert, readFileSync(files.cert, "utf8").slice(0, 80));
    expect(() => loadTls(files)).toThrow(/malformed/);
    expect(() => loadTls({ ...files, ca: join(dir, "none.pem") })).toThrow(
      expect.objectContaining({ code: "TLS_FILES_MISSING" }),
    );
  });
});
