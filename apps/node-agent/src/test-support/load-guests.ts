/**
 * Firmware-mode guests that load their host, for the agent's isolation tests (hand-assembled like
 * echo-firmware.ts), and what the tests measure them with (/proc of the VMM process):
 * - writerFirmware: never idles, stores into every page of its RAM round after round (a runaway
 *   that also dirties memory);
 * - floodFirmware: writes its RAM to the console through HTIF (one call sends up to 1 MiB) for
 *   ever: host-side work a guest can cause beyond its RAM and its CPU share;
 * - hogFirmware: echoes like the echo firmware; on 'g' stores once into every page of its RAM
 *   (all of it becomes resident on the host), then prints "touched".
 */
import { readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import type { CreateVmRequest } from "@skiff/proto";
import { firmwareVm } from "./harness.js";
import { Asm, elf32, X } from "./rv32-asm.js";

const BASE = 0x8000_0000;
const MIE = 0x304;
/** The guests' code lives below this; the pages from here to the end of RAM are their data. */
const DATA = 0x1_0000;

/** add rd, rs1, rs2 (the assembler has no R-type add; encoded here). */
function add(a: Asm, rd: number, rs1: number, rs2: number): Asm {
  const word = ((rs2 << 20) | (rs1 << 15) | (rd << 7) | 0x33) >>> 0;
  const b = new Uint8Array(4);
  new DataView(b.buffer).setUint32(0, word, true);
  return a.bytes(b);
}

function puts(a: Asm): void {
  const { zero, ra, t0, s0, a0 } = X;
  a.label("puts").lbu(t0, a0, 0).beq(t0, zero, "ret").sb(t0, s0, 0).addi(a0, a0, 1).jal(zero, "puts");
  a.label("ret").jalr(zero, ra, 0);
}

/** Prints "writer", then stores the round number into every data page, round after round. */
export function writerFirmware(memoryBytes: number): Uint8Array {
  const a = new Asm(BASE);
  const { zero, ra, t1, t2, t3, s0, s3, a0 } = X;
  a.lui(s0, 0x10000).la(a0, "banner").jal(ra, "puts");
  a.lui(t3, 1); // a page
  a.lui(t2, (BASE + memoryBytes) >>> 12);
  a.label("round").addi(s3, s3, 1);
  a.lui(t1, (BASE + DATA) >>> 12);
  a.label("page").sw(s3, t1, 0);
  add(a, t1, t1, t3).bne(t1, t2, "page").jal(zero, "round");
  puts(a);
  a.label("banner").bytes(Buffer.from("writer\n\0"));
  return elf32(BASE, BASE, a.assemble(), {});
}

/**
 * Prints "flood" on the UART, then HTIF write(1, data pages, all of them) in a loop: the host
 * copies the whole buffer out of guest RAM at each call, a few instructions apart.
 */
export function floodFirmware(memoryBytes: number): Uint8Array {
  const a = new Asm(BASE);
  const { zero, ra, t0, t1, s0, s1, a0, a1 } = X;
  a.lui(s0, 0x10000).la(a0, "banner").jal(ra, "puts");
  a.la(s1, "magic").la(a1, "tohost");
  a.label("again");
  // magic_mem: u64 syscall number, fd, buffer, length (the host overwrites word 0 with the result).
  a.addi(t0, zero, 64).sw(t0, s1, 0).sw(zero, s1, 4);
  a.addi(t0, zero, 1).sw(t0, s1, 8).sw(zero, s1, 12);
  a.lui(t0, (BASE + DATA) >>> 12);
  a.sw(t0, s1, 16).sw(zero, s1, 20);
  a.lui(t0, (memoryBytes - DATA) >>> 12);
  a.sw(t0, s1, 24).sw(zero, s1, 28);
  a.sw(zero, a1, 4).sw(s1, a1, 0); // tohost = &magic (device 0, syscall)
  a.label("wait").lw(t1, a1, 0).bne(t1, zero, "wait"); // the host clears tohost when done
  a.jal(zero, "again");
  puts(a);
  a.label("banner").bytes(Buffer.from("flood\n\0"));
  a.align(8).label("magic").bytes(new Uint8Array(64));
  a.align(8).label("tohost").bytes(new Uint8Array(8)).label("fromhost").bytes(new Uint8Array(8));
  return elf32(BASE, BASE, a.assemble(), { tohost: a.address("tohost"), fromhost: a.address("fromhost") });
}

/** Sleeps in WFI, echoes what it receives; 'g' stores into every data page once, then "touched". */
export function hogFirmware(memoryBytes: number): Uint8Array {
  const a = new Asm(BASE);
  const { zero, ra, t0, t1, t2, t3, t4, t5, t6, s0, s1, s2, s3, a0 } = X;
  a.lui(s0, 0x10000).la(a0, "banner").jal(ra, "puts");
  // UART receive interrupt through the PLIC (irq 10, M-mode context), as echo-firmware.ts does.
  a.addi(t0, zero, 1).sb(t0, s0, 1);
  a.lui(s1, 0x0c000).sw(t0, s1, 40);
  a.lui(t1, 0x0c002).addi(t2, zero, 1024).sw(t2, t1, 0);
  a.lui(s2, 0x0c200).sw(zero, s2, 0).addi(s2, s2, 4);
  a.addi(t0, zero, 1).slli(t0, t0, 11).csrrs(zero, MIE, t0);
  a.label("loop").wfi().lw(t3, s2, 0);
  a.label("rx").lbu(t0, s0, 5).andi(t0, t0, 1).beq(t0, zero, "done");
  a.lbu(t1, s0, 0);
  a.addi(t2, zero, 0x67).beq(t1, t2, "touch"); // 'g'
  a.sb(t1, s0, 0).jal(zero, "rx");
  a.label("touch").addi(s3, s3, 1);
  a.lui(t4, (BASE + DATA) >>> 12);
  a.lui(t5, (BASE + memoryBytes) >>> 12);
  a.lui(t6, 1);
  a.label("page").sw(s3, t4, 0);
  add(a, t4, t4, t6).bne(t4, t5, "page");
  a.la(a0, "touched").jal(ra, "puts").jal(zero, "rx");
  a.label("done").beq(t3, zero, "loop").sw(t3, s2, 0).jal(zero, "loop");
  puts(a);
  a.label("banner").bytes(Buffer.from("hog ready\n\0"));
  a.label("touched").bytes(Buffer.from("touched\n\0"));
  return elf32(BASE, BASE, a.assemble(), {});
}

/** A firmware VM running `elf` (written into `dir`), with its RAM size and limits. */
export function loadVm(
  dir: string,
  vmId: string,
  elf: Uint8Array,
  opts: { memoryBytes?: number; cpuMillis?: number; vmmOverheadMib?: number } = {},
): CreateVmRequest {
  const base = firmwareVm(dir, vmId, 1, true, {
    cpuMillis: opts.cpuMillis,
    vmmOverheadMib: opts.vmmOverheadMib,
  });
  const kernelPath = join(dir, `${vmId}.elf`);
  writeFileSync(kernelPath, elf);
  // firmwareVm's spec is always set; the spread keeps its other fields.
  return { ...base, spec: { ...base.spec!, kernelPath, memoryBytes: opts.memoryBytes ?? 1 << 20 } };
}

/** CPU seconds (user + system, all threads) of a process, from /proc (USER_HZ is 100 on Linux). */
export function cpuSeconds(pid: number): number {
  const stat = readFileSync(`/proc/${pid}/stat`, "utf8");
  const fields = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
  return (Number(fields[11]) + Number(fields[12])) / 100;
}

/** Measures processes' CPU over a window: start it, do the work, then read each share of a core. */
export class CpuWindow {
  private readonly at = performance.now();
  private readonly start: Map<number, number>;

  constructor(private readonly pids: number[]) {
    this.start = new Map(pids.map((p) => [p, cpuSeconds(p)]));
  }

  seconds(): number {
    return (performance.now() - this.at) / 1000;
  }

  shares(): Map<number, number> {
    const wall = this.seconds();
    return new Map(this.pids.map((p) => [p, (cpuSeconds(p) - this.start.get(p)!) / wall]));
  }
}
