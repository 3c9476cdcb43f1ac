import { spawnSync } from "node:child_process";
import { mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { buildTestElf, li, rv, words } from "../test-support/test-elf.js";

const root = new URL("../../../../", import.meta.url).pathname;
const cli = join(root, "packages/hv-core/dist/cli/main.js");
const isaDir = join(root, "guests/isa-tests/build");
const tmp = mkdtempSync(join(tmpdir(), "hv-run-tests-"));
afterAll(() => rmSync(tmp, { recursive: true, force: true }));

const BASE = 0x8000_0000;
const TOHOST = BASE + 0x1000;

/** A program that writes `value` to tohost, then spins. */
function htifProgram(value: number, extraSymbols: Record<string, number> = {}): Uint8Array {
  const code = [...li(5, TOHOST), ...li(6, value), rv.sw(6, 5, 0), rv.jal(0, 0)];
  return buildTestElf({
    entry: BASE,
    segments: [
      { paddr: BASE, data: words(...code) },
      { paddr: BASE + 0x2000, data: words(0xdeadbeef, 0x1234, 7) },
    ],
    symbols: { tohost: TOHOST, ...extraSymbols },
  });
}

function hv(...args: string[]) {
  return spawnSync(process.execPath, [cli, ...args], { encoding: "utf8" });
}

describe("hv run-tests", () => {
  it("reports PASS, FAIL (test N) and the closing count in the fixed format", () => {
    const pass = join(tmp, "good.elf");
    const fail = join(tmp, "bad.elf");
    writeFileSync(pass, htifProgram(1));
    writeFileSync(fail, htifProgram((5 << 1) | 1));
    const r = hv("run-tests", pass, fail);
    expect(r.stdout).toBe("PASS good\nFAIL bad (test 5)\n1 passed, 1 failed\n");
    expect(r.status).toBe(1);
  });

  it("fails a malformed ELF without crashing", () => {
    const junk = join(tmp, "junk.elf");
    writeFileSync(junk, "not an elf at all, just text");
    const r = hv("run-tests", junk);
    expect(r.stdout).toMatch(/^FAIL junk \(error: .+\)\n0 passed, 1 failed\n$/);
    expect(r.status).toBe(1);
  });

  it("answers an unknown option with what the command does, exit 2, no stack trace", () => {
    const r = hv("run-tests", "--verbose");
    expect(r.status).toBe(2);
    expect(r.stderr).toMatch(/^hv run-tests: Unknown option '--verbose'\n {2}run-tests +run firmware-mode/);
    expect(r.stderr).not.toMatch(/\bat /);
  });

  it("writes the signature region as one 8-digit hex word per line", () => {
    const elf = join(tmp, "sig.elf");
    writeFileSync(elf, htifProgram(1, { begin_signature: BASE + 0x2000, end_signature: BASE + 0x200c }));
    const dir = join(tmp, "sigs");
    const r = hv("run-tests", "--signatures", dir, elf);
    expect(r.status).toBe(0);
    expect(readFileSync(join(dir, "sig.signature"), "utf8")).toBe("deadbeef\n00001234\n00000007\n");
  });

  it("passes every ISA test program in guests/isa-tests, on the interpreter and with block translation", () => {
    const elfs = readdirSync(isaDir)
      .filter((f) => f.endsWith(".elf"))
      .map((f) => join(isaDir, f));
    expect(elfs.length).toBeGreaterThan(0);
    const refDir = join(root, "guests/isa-tests/ref");
    const refs = readdirSync(refDir).filter((f) => f.endsWith(".signature"));
    expect(refs.length).toBeGreaterThan(0);
    for (const engine of ["--no-jit", "--jit"]) {
      const sigDir = join(tmp, `isa-sigs${engine}`);
      const r = hv("run-tests", engine, "--signatures", sigDir, ...elfs);
      const failures = r.stdout.split("\n").filter((l) => l.startsWith("FAIL"));
      expect(failures, engine).toEqual([]);
      expect(r.stdout).toContain(`${elfs.length} passed, 0 failed`);
      expect(r.status).toBe(0);
      // Signatures match the ones the reference machine (QEMU) produced for the same programs.
      for (const ref of refs) {
        expect(readFileSync(join(sigDir, ref), "utf8"), `${engine} ${ref}`).toBe(
          readFileSync(join(refDir, ref), "utf8"),
        );
      }
    }
  });
});
