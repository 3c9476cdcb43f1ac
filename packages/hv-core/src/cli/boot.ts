import { parseArgs } from "node:util";
import { SkiffError } from "@skiff/common";
import { DEFAULT_JIT, JIT_FROM_START, type MachineConfig } from "../machine/config.js";
import { Machine } from "../machine/machine.js";

/** Instructions per run slice before the event loop gets a turn (console input, signals). */
const SLICE = 2_000_000;
const DEFAULT_BOOTARGS = "console=ttyS0 earlycon=sbi";
/** Ctrl-A then x quits, as in QEMU's -nographic console. */
const CTRL_A = 0x01;

/** "128M", "1G", "65536K" or a plain byte count. */
export function parseSize(text: string): number {
  const m = /^(\d+)([KMG]?)i?B?$/i.exec(text.trim());
  if (!m) throw new SkiffError("BAD_ARGUMENT", `not a size: ${text}`);
  const unit = { "": 1, K: 1 << 10, M: 1 << 20, G: 1 << 30 }[m[2]!.toUpperCase() as "" | "K" | "M" | "G"];
  return Number(m[1]) * unit;
}

const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));

/**
 * The guest's console output of the current run slice, written to stdout when the slice ends: a
 * write per byte (the UART's and the SBI console's unit) cost a Linux boot ~3,800 writes, ~65 ms
 * of CPU under load.
 */
let pending: Uint8Array[] = [];

function flushConsole(): void {
  if (pending.length === 0) return;
  process.stdout.write(pending.length === 1 ? pending[0]! : Buffer.concat(pending));
  pending = [];
}

/** A freshly reset machine for `config`, its console on stdout. */
function boot(config: MachineConfig): Machine {
  const machine = Machine.create(config);
  // The machine may reuse its buffer: keep a copy.
  machine.onConsoleOutput = (bytes) => pending.push(bytes.slice());
  return machine;
}

export async function main(args: string[]): Promise<number> {
  // --jit translates from the first instruction, --no-jit never; without either, the default.
  const jit = args.includes("--jit") ? JIT_FROM_START : args.includes("--no-jit") ? false : DEFAULT_JIT;
  const argv = args.filter((a) => a !== "--no-jit" && a !== "--jit");
  let values: Record<string, string | undefined>;
  try {
    values = parseArgs({
      args: argv,
      options: {
        kernel: { type: "string" },
        initrd: { type: "string" },
        disk: { type: "string" },
        mem: { type: "string", default: "128M" },
        append: { type: "string" },
        "net-mac": { type: "string" },
      },
    }).values;
  } catch (e) {
    process.stderr.write(`hv boot: ${(e as Error).message}\n`);
    return 2;
  }
  if (!values.kernel) {
    process.stderr.write(
      'usage: hv boot --kernel <Image> [--initrd f] [--disk f] [--mem 128M] [--append "..."] [--net-mac 52:54:00:12:34:56] [--jit|--no-jit]\n',
    );
    return 2;
  }
  let config: MachineConfig;
  let machine: Machine;
  try {
    config = {
      mode: "hypervisor",
      memoryBytes: parseSize(values.mem ?? "128M"),
      // Read straight into guest RAM when the machine is built (and again at a reboot).
      image: { path: values.kernel },
      initrd: values.initrd ? { path: values.initrd } : undefined,
      disks: values.disk ? [{ path: values.disk }] : [],
      bootargs: values.append ? `${DEFAULT_BOOTARGS} ${values.append}` : DEFAULT_BOOTARGS,
      jit,
      // The NIC is unplugged here: the guest sees eth0, frames it sends go nowhere.
      ...(values["net-mac"] ? { net: { mac: values["net-mac"] } } : {}),
    };
    machine = boot(config);
  } catch (e) {
    process.stderr.write(`hv boot: ${(e as Error).message}\n`);
    return 1;
  }

  let quit = false;
  let escaped = false;
  let wake: (() => void) | undefined;
  const stdin = process.stdin;
  if (stdin.isTTY) stdin.setRawMode(true);
  const onInput = (chunk: Buffer) => {
    const out: number[] = [];
    for (const b of chunk) {
      if (stdin.isTTY && escaped) {
        escaped = false;
        if (b === 0x78) quit = true;
        else if (b === 0x62) machine.sendBreak();
        else out.push(b);
      } else if (stdin.isTTY && b === CTRL_A) {
        escaped = true;
      } else {
        out.push(b);
      }
    }
    if (out.length) machine.consoleInput(Uint8Array.from(out));
    wake?.();
  };
  stdin.on("data", onInput);
  // When stdin closes (a pipe ran dry) the guest keeps running until it powers off.
  stdin.on("end", () => stdin.off("data", onInput));

  try {
    for (;;) {
      if (quit) return 130;
      const exit = machine.run(SLICE);
      flushConsole();
      switch (exit.kind) {
        case "budget":
          await new Promise<void>((r) => setImmediate(r));
          break;
        case "idle":
          await Promise.race([
            sleep(Math.min(exit.wakeInMs, 1000)),
            new Promise<void>((r) => {
              wake = r;
            }),
          ]);
          wake = undefined;
          break;
        case "poweroff":
          return exit.code;
        case "reboot":
          // A cold reboot (SBI SRST): a fresh machine with the same kernel, initrd, command line
          // and disk file, as after a reset; the console carries on. The old machine closes its
          // disk first (the guest synced it; writes reach the file as they happen).
          machine.close();
          try {
            machine = boot(config);
          } catch (e) {
            process.stderr.write(`\nhv boot: reboot failed: ${(e as Error).message}\n`);
            return 1;
          }
          break;
        case "htif":
          return exit.code;
        case "fatal":
          process.stderr.write(`\nhv boot: guest stopped: ${exit.message}\n`);
          return 1;
      }
    }
  } finally {
    flushConsole();
    machine.close();
    if (stdin.isTTY) stdin.setRawMode(false);
    stdin.off("data", onInput);
    stdin.pause();
  }
}
