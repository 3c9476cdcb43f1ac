import { mkdirSync, readFileSync, writeFileSync } from "node:fs";
import { basename, extname, join } from "node:path";
import { parseArgs } from "node:util";
import type { JitOptions } from "../cpu/jit/block-cache.js";
import { parseElf } from "../loader/elf.js";
import { DEFAULT_JIT, JIT_FROM_START } from "../machine/config.js";
import { Machine } from "../machine/machine.js";

/** Instructions a test may run before it counts as hung. */
const DEFAULT_MAX_INSTRUCTIONS = 2_000_000_000;
const MEMORY = 64 << 20;

export interface TestOutcome {
  name: string;
  passed: boolean;
  /** "(test N)", "(timeout)", "(error: ...)" for failures. */
  detail: string;
  instructions: number;
}

/** Runs one firmware-mode ELF to its tohost write; writes its signature when asked. */
export function runTest(
  path: string,
  opts: { signatures?: string; maxInstructions?: number; jit?: boolean | JitOptions } = {},
): TestOutcome {
  const name = basename(path, extname(path));
  const fail = (detail: string, instructions = 0): TestOutcome => ({
    name,
    passed: false,
    detail,
    instructions,
  });
  let image: Uint8Array;
  try {
    image = readFileSync(path);
  } catch (e) {
    return fail(`(error: cannot read: ${(e as Error).message})`);
  }
  let machine: Machine;
  let symbols: Map<string, number>;
  try {
    symbols = parseElf(image).symbols;
    machine = Machine.create({
      mode: "firmware",
      memoryBytes: MEMORY,
      image,
      clock: "instructions",
      jit: opts.jit ?? DEFAULT_JIT,
    });
  } catch (e) {
    return fail(`(error: ${(e as Error).message})`);
  }
  if (!symbols.has("tohost")) return fail("(error: no tohost symbol)");
  machine.onConsoleOutput = (bytes) => process.stderr.write(bytes);
  const max = opts.maxInstructions ?? DEFAULT_MAX_INSTRUCTIONS;
  let result: TestOutcome | undefined;
  while (!result) {
    const exit = machine.run(10_000_000);
    switch (exit.kind) {
      case "htif":
        result =
          exit.code === 0
            ? { name, passed: true, detail: "", instructions: machine.instret }
            : fail(`(test ${exit.code})`, machine.instret);
        break;
      case "budget":
        if (machine.instret >= max) result = fail("(timeout)", machine.instret);
        break;
      case "idle":
        result = fail("(error: hart idle forever in WFI)", machine.instret);
        break;
      default:
        result = fail(
          `(error: ${exit.kind}${exit.kind === "fatal" ? `: ${exit.message}` : ""})`,
          machine.instret,
        );
    }
  }
  if (opts.signatures) writeSignature(machine, symbols, join(opts.signatures, `${name}.signature`));
  return result;
}

function writeSignature(machine: Machine, symbols: Map<string, number>, file: string): void {
  const begin = symbols.get("begin_signature");
  const end = symbols.get("end_signature");
  if (begin === undefined || end === undefined || end < begin) return;
  const lines: string[] = [];
  for (let a = begin; a + 4 <= end; a += 4) {
    lines.push(
      machine.ram.contains(a, 4) ? machine.ram.readU32(a).toString(16).padStart(8, "0") : "00000000",
    );
  }
  writeFileSync(file, lines.length ? `${lines.join("\n")}\n` : "");
}

export async function main(argv: string[]): Promise<number> {
  const { values, positionals } = parseArgs({
    args: argv,
    options: {
      signatures: { type: "string" },
      "max-instructions": { type: "string" },
      jit: { type: "boolean" },
      "no-jit": { type: "boolean" },
    },
    allowPositionals: true,
  });
  if (positionals.length === 0) {
    process.stderr.write("usage: hv run-tests [--signatures DIR] [--jit|--no-jit] <elf>...\n");
    return 2;
  }
  if (values.signatures) mkdirSync(values.signatures, { recursive: true });
  const maxInstructions = values["max-instructions"] ? Number(values["max-instructions"]) : undefined;
  let passed = 0;
  let failed = 0;
  for (const path of positionals) {
    const r = runTest(path, {
      signatures: values.signatures,
      maxInstructions,
      jit: values.jit ? JIT_FROM_START : values["no-jit"] ? false : DEFAULT_JIT,
    });
    if (r.passed) passed++;
    else failed++;
    process.stdout.write(r.passed ? `PASS ${r.name}\n` : `FAIL ${r.name} ${r.detail}\n`);
  }
  process.stdout.write(`${passed} passed, ${failed} failed\n`);
  return failed > 0 ? 1 : 0;
}
