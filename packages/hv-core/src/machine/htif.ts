import type { Ram } from "../memory/ram.js";

/**
 * Host-Target Interface as riscv-tests and bare-metal test programs use it: the guest writes a
 * 64-bit command to the `tohost` symbol's physical address (the machine polls it between run
 * slices), the host answers through `fromhost`.
 *
 *   device 0, payload odd   exit: code = payload >> 1 (0 = pass, else the failing test number)
 *   device 0, payload even  syscall: payload points at magic_mem (u64[8]: number, args...);
 *                           write(64) to fd 1/2 and exit(93) are served
 *   device 1, command 1     console putchar (low byte)
 */
export type HtifEvent = { kind: "exit"; code: number };

const SYS_WRITE = 64;
const SYS_EXIT = 93;

export class Htif {
  constructor(
    private readonly ram: Ram,
    readonly tohost: number,
    readonly fromhost: number | undefined,
    private readonly output: (bytes: Uint8Array) => void,
  ) {}

  /** Serves a pending command; returns an exit event when the guest is done. */
  poll(): HtifEvent | undefined {
    const ram = this.ram;
    if (!ram.contains(this.tohost, 8)) return undefined;
    const lo = ram.readU32(this.tohost);
    const hi = ram.readU32(this.tohost + 4);
    if (lo === 0 && hi === 0) return undefined;
    const device = hi >>> 24;
    const command = (hi >>> 16) & 0xff;
    if (device === 0 && command === 0) {
      if (lo & 1) return { kind: "exit", code: lo >>> 1 };
      const exit = this.syscall(lo);
      if (exit) return exit;
      this.respond(0, 1);
      return undefined;
    }
    if (device === 1 && command === 1) {
      this.output(Uint8Array.of(lo & 0xff));
      this.respond(0x01010000, 0);
      return undefined;
    }
    this.respond(hi & 0xffff0000, 0);
    return undefined;
  }

  private respond(fromhostHi: number, fromhostLo: number): void {
    this.ram.writeU32(this.tohost, 0);
    this.ram.writeU32(this.tohost + 4, 0);
    if (this.fromhost !== undefined && this.ram.contains(this.fromhost, 8)) {
      this.ram.writeU32(this.fromhost, fromhostLo);
      this.ram.writeU32(this.fromhost + 4, fromhostHi);
    }
  }

  private syscall(magic: number): HtifEvent | undefined {
    const ram = this.ram;
    if (!ram.contains(magic, 64)) return undefined;
    const arg = (i: number) => ram.readU32(magic + 8 * i);
    const num = arg(0);
    let result = -38; // -ENOSYS
    if (num === SYS_EXIT) return { kind: "exit", code: arg(1) };
    if (num === SYS_WRITE) {
      const fd = arg(1);
      const buf = arg(2);
      const len = Math.min(arg(3), 1 << 20);
      if ((fd === 1 || fd === 2) && ram.contains(buf, len)) {
        this.output(ram.read(buf, len));
        result = len;
      } else {
        result = -9; // -EBADF
      }
    }
    ram.writeU32(magic, result);
    ram.writeU32(magic + 4, result < 0 ? 0xffffffff : 0);
    return undefined;
  }
}
