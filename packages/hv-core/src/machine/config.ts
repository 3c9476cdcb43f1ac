import { SkiffError } from "@skiff/common";
import type { JitOptions } from "../cpu/jit/block-cache.js";
import { formatMac, type NetBackend, parseMac } from "../devices/virtio/net.js";
import type { Payload } from "../loader/payload.js";
import { requireStateVersion, type StateRecord } from "../snapshot/state.js";

export interface DiskConfig {
  path: string;
  readOnly?: boolean;
  /** Shared dirty-block log for live migration (see VirtioBlkOptions.dirtyLog); not part of snapshots. */
  dirtyLog?: SharedArrayBuffer;
}

/** Guest RAM and its dirty bitmap, shared with the VMM's main thread (migration reads pages there). */
export interface SharedMemory {
  ram: SharedArrayBuffer;
  dirty: SharedArrayBuffer;
}

export interface MachineConfig {
  mode: "firmware" | "hypervisor";
  memoryBytes: number;
  /** ELF (firmware) or Linux Image (hypervisor, loaded at 0x80400000): bytes or `{ path }`. */
  image: Payload;
  initrd?: Payload;
  bootargs?: string;
  /** virtio-blk devices, in slot order from slot 0. */
  disks?: DiskConfig[];
  /** virtio-rng (default: on in hypervisor mode). */
  rng?: boolean;
  /** A virtio-net device with this MAC ("52:54:00:12:34:56"), its frames going through `backend`. */
  net?: NetConfig;
  /** "instructions" = deterministic time (one tick per instruction), for tests. Default "host". */
  clock?: "host" | "instructions";
  memory?: SharedMemory;
  /** Run hot guest code as translated blocks (default DEFAULT_JIT); false = the interpreter only. */
  jit?: boolean | JitOptions;
}

/**
 * The engine a machine gets when its config does not say: hot code translated (the VMM's engine).
 * `jit: false` (`--no-jit` in the CLI) keeps the interpreter alone, the reference and fallback.
 */
export const DEFAULT_JIT = true;

/** Translation from the first instruction, no warm-up (the CLI's `--jit`, tests of the translator). */
export const JIT_FROM_START: JitOptions = { startAfter: 0 };

export interface NetConfig {
  mac: string;
  /** Where frames go and come from (default: unplugged). Not part of snapshots: a restore plugs its own. */
  backend?: NetBackend;
}

/** The configuration a machine keeps (and its snapshot records): everything but the boot payload. */
export interface MachineSpec {
  mode: "firmware" | "hypervisor";
  memoryBytes: number;
  bootargs: string;
  disks: DiskConfig[];
  rng: boolean;
  /** The NIC's MAC in canonical form, or null without one. */
  net: { mac: string } | null;
  clock: "host" | "instructions";
}

export const MIN_MEMORY = 1 << 20;
/** RAM spans 0x8000_0000..0xFFFF_FFFF at most. */
export const MAX_MEMORY = 0x8000_0000;

export function specOf(cfg: Omit<MachineConfig, "image">): MachineSpec {
  if (cfg.mode !== "firmware" && cfg.mode !== "hypervisor")
    throw new SkiffError("MACHINE_CONFIG_INVALID", `unknown machine mode ${String(cfg.mode)}`);
  if (
    !Number.isInteger(cfg.memoryBytes) ||
    cfg.memoryBytes < MIN_MEMORY ||
    cfg.memoryBytes > MAX_MEMORY ||
    cfg.memoryBytes % 4096 !== 0
  ) {
    throw new SkiffError(
      "MACHINE_CONFIG_INVALID",
      `memory must be a multiple of 4 KiB between 1 MiB and 2 GiB, got ${cfg.memoryBytes}`,
    );
  }
  const disks = cfg.disks ?? [];
  const rng = cfg.rng ?? cfg.mode === "hypervisor";
  const net = cfg.net ? { mac: formatMac(parseMac(cfg.net.mac)) } : null;
  if (disks.length + (rng ? 1 : 0) + (net ? 1 : 0) > 8)
    throw new SkiffError("MACHINE_CONFIG_INVALID", "at most 8 virtio devices");
  return {
    mode: cfg.mode,
    memoryBytes: cfg.memoryBytes,
    bootargs: cfg.bootargs ?? "console=ttyS0 earlycon=sbi",
    disks: disks.map((d) => ({
      path: d.path,
      readOnly: d.readOnly ?? false,
      ...(d.dirtyLog ? { dirtyLog: d.dirtyLog } : {}),
    })),
    rng,
    net,
    clock: cfg.clock ?? "host",
  };
}

/** Version of the machine section (the spec as `specToState` writes it); 2 added `net`. */
export const SPEC_STATE_VERSION = 2;

export function specToState(spec: MachineSpec): StateRecord {
  return {
    mode: spec.mode,
    memoryBytes: spec.memoryBytes,
    bootargs: spec.bootargs,
    disks: spec.disks.map((d) => ({ path: d.path, readOnly: d.readOnly ?? false })),
    rng: spec.rng,
    net: spec.net ? { mac: spec.net.mac } : null,
    clock: spec.clock,
  };
}

export function specFromState(s: StateRecord, version: number): MachineSpec {
  requireStateVersion("machine", version, [1, 2]);
  const bad = (what: string): never => {
    throw new SkiffError("SNAPSHOT_CORRUPT", `snapshot machine config: bad ${what}`);
  };
  const disks = Array.isArray(s.disks) ? s.disks : bad("disks");
  return specOf({
    mode: s.mode === "firmware" || s.mode === "hypervisor" ? s.mode : bad("mode"),
    memoryBytes: typeof s.memoryBytes === "number" ? s.memoryBytes : bad("memoryBytes"),
    bootargs: typeof s.bootargs === "string" ? s.bootargs : bad("bootargs"),
    disks: disks.map((d) => {
      const r = d as StateRecord;
      return { path: typeof r.path === "string" ? r.path : bad("disk path"), readOnly: r.readOnly === true };
    }),
    rng: s.rng === true,
    net: version >= 2 && s.net !== null ? { mac: netMac(s.net) ?? bad("net") } : undefined,
    clock: s.clock === "instructions" ? "instructions" : "host",
  });
}

function netMac(v: StateRecord[string] | undefined): string | undefined {
  if (v === null || typeof v !== "object" || Array.isArray(v) || ArrayBuffer.isView(v)) return undefined;
  const mac = (v as StateRecord).mac;
  return typeof mac === "string" ? mac : undefined;
}
