// The command table: one row per command; each module exports `main(argv): Promise<exitCode>`.
export interface Command {
  readonly summary: string;
  load(): Promise<{ main(argv: string[]): Promise<number> }>;
}

export const commands: Record<string, Command> = {
  bench: {
    summary: "MIPS of the CPU benchmark guests (--json, --qemu to compare, --boot: Linux to prompt)",
    load: () => import("./bench.js"),
  },
  boot: {
    summary: "boot a Linux Image in hypervisor mode, serial console on stdin/stdout",
    load: () => import("./boot.js"),
  },
  "run-tests": {
    summary: "run firmware-mode test ELFs (pass/fail through HTIF tohost)",
    load: () => import("./run-tests.js"),
  },
};
