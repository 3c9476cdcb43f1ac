/**
 * The reference: the same guest kernel and initramfs in qemu-system-riscv32 (guests/linux/qemu-boot.sh,
 * the project's SBI shim), each guest's virtio-net on a TAP device in a namespace of the bench's
 * own, the TAPs on one bridge that holds the namespace's address. The bench measures from that
 * namespace as it does from the gateway's, so only the machine under the guest differs.
 */
import { type ChildProcess, execFile, spawn } from "node:child_process";
import { randomBytes } from "node:crypto";
import { join } from "node:path";
import { setTimeout as sleep } from "node:timers/promises";
import { promisify } from "node:util";
import type { Guest, GuestShell } from "./probes.js";

const run = promisify(execFile);
const QEMU_BOOT = join(import.meta.dirname, "..", "..", "..", "..", "..", "guests", "linux", "qemu-boot.sh");
const BRIDGE = { name: "br0", ipv4: "10.79.0.1", prefix: 24 };
const GUESTS = [
  { id: "a", tap: "qt0", mac: "52:54:00:4f:00:0a", ipv4: "10.79.0.10" },
  { id: "b", tap: "qt1", mac: "52:54:00:4f:00:0b", ipv4: "10.79.0.11" },
];
const BOOT_MS = 300_000;

/** A QEMU guest's serial console on its stdio. */
class QemuConsole implements GuestShell {
  text = "";
  exited = false;

  constructor(private readonly proc: ChildProcess) {
    proc.stdout?.on("data", (b: Buffer) => {
      this.text += b.toString();
    });
    proc.stderr?.on("data", (b: Buffer) => {
      this.text += b.toString();
    });
    proc.on("exit", () => {
      this.exited = true;
    });
  }

  type(s: string): void {
    this.proc.stdin?.write(s);
  }

  async waitFor(what: string, timeoutMs: number): Promise<void> {
    for (const deadline = Date.now() + timeoutMs; !this.text.includes(what); await sleep(100)) {
      if (this.exited || Date.now() > deadline) {
        throw new Error(
          `QEMU guest: no "${what}" (${this.exited ? "QEMU exited" : "timeout"}):\n${this.text.slice(-1500)}`,
        );
      }
    }
  }
}

export class QemuReference {
  readonly guests = new Map<string, Guest>();
  private readonly procs: ChildProcess[] = [];

  private constructor(readonly ns: string) {}

  /** The namespace, its bridge and TAPs, and the guests booted with static addresses. */
  static async start(log: (line: string) => void): Promise<QemuReference> {
    const ref = new QemuReference(`skiff-qref-${randomBytes(3).toString("hex")}`);
    try {
      await ref.network();
      log(`qemu: namespace ${ref.ns} up; booting ${GUESTS.length} guests`);
      await Promise.all(GUESTS.map((g) => ref.boot(g)));
      return ref;
    } catch (err) {
      await ref.stop();
      throw err;
    }
  }

  private async network(): Promise<void> {
    const ipn = (...args: string[]) => run("ip", ["-n", this.ns, ...args]);
    await run("ip", ["netns", "add", this.ns]);
    await ipn("link", "set", "dev", "lo", "up");
    await ipn("link", "add", BRIDGE.name, "type", "bridge");
    await ipn("addr", "add", `${BRIDGE.ipv4}/${BRIDGE.prefix}`, "dev", BRIDGE.name);
    await ipn("link", "set", "dev", BRIDGE.name, "up");
    for (const g of GUESTS) {
      await ipn("tuntap", "add", "dev", g.tap, "mode", "tap");
      await ipn("link", "set", "dev", g.tap, "master", BRIDGE.name);
      await ipn("link", "set", "dev", g.tap, "up");
    }
  }

  private async boot(g: (typeof GUESTS)[number]): Promise<void> {
    const name = `qemu-${g.id}`;
    const kernelIp = `ip=${g.ipv4}::${BRIDGE.ipv4}:255.255.255.0:${name}:eth0:off`;
    const proc = spawn(
      "ip",
      [
        ...["netns", "exec", this.ns, QEMU_BOOT, "--no-disk", "--mem", "64M"],
        ...["--append", `${kernelIp} hostname=${name}`, "--"],
        ...["-netdev", `tap,id=n0,ifname=${g.tap},script=no,downscript=no`],
        ...["-device", `virtio-net-device,netdev=n0,mac=${g.mac}`],
      ],
      { stdio: ["pipe", "pipe", "pipe"] },
    );
    this.procs.push(proc);
    const shell = new QemuConsole(proc);
    await shell.waitFor("init: eth0 up", BOOT_MS);
    await shell.waitFor("skiff# ", 30_000);
    this.guests.set(g.id, { name, ipv4: g.ipv4, shell });
  }

  guest(id: "a" | "b"): Guest {
    return this.guests.get(id)!;
  }

  /** Ends the QEMUs (ip netns exec and qemu-boot.sh exec it: the pid is QEMU's) and the namespace. */
  async stop(): Promise<void> {
    await Promise.all(
      this.procs.map(
        (p) =>
          new Promise<void>((resolve) => {
            if (p.exitCode !== null || p.signalCode !== null) return resolve();
            p.once("exit", () => resolve());
            p.kill();
          }),
      ),
    );
    await run("ip", ["netns", "del", this.ns]).catch(() => undefined);
  }
}
