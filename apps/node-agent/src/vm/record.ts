import { existsSync, readFileSync, renameSync, writeFileSync } from "node:fs";
import type { BootModeName } from "@skiff/proto";
import { agentError } from "../errors.js";
import type { VmStateName } from "./lifecycle.js";
import { VM_STATES } from "./lifecycle.js";

export type { BootModeName };

/** A VM's configuration as the agent stores it (paths resolved to absolute). */
export interface VmSpecRecord {
  readonly memoryBytes: number;
  readonly vcpus: number;
  readonly bootMode: BootModeName;
  readonly kernelPath: string;
  /** "" when none. */
  readonly initrdPath: string;
  /** The VM's own disk (in its data dir, or on shared storage); "" when it has none. */
  readonly diskPath: string;
  /** Set when the disk is on shared storage: which one, and where its ownership leases are. */
  readonly diskStorage?: DiskStorage;
  readonly diskBytes: number;
  readonly kernelArgs: string;
  /** Thousandths of a host core the vCPU may use (0 = no cap). */
  readonly cpuMillis: number;
  /** Host memory the VMM may use above guest RAM, MiB. */
  readonly vmmOverheadMib: number;
  readonly labels: Readonly<Record<string, string>>;
  /** The VM's NIC (one at most); absent or empty: none. */
  readonly nics?: readonly NicRecord[];
  /** What the node's metadata service tells the guest (GuestMetadata of @skiff/net); absent: nothing beyond the map. */
  readonly guest?: GuestRecord;
}

export interface GuestRecord {
  readonly hostname: string;
  readonly publicKeys: readonly string[];
}

/** A virtio-net NIC: its MAC for life, and the address and network the map gives it. */
export interface NicRecord {
  readonly mac: string;
  readonly ipv4: string;
  readonly networkId: string;
}

/** A disk on shared storage (storage/shared.ts). */
export interface DiskStorage {
  /** The storage's identity (the same on every node that mounts it). */
  readonly id: string;
  /** The disk's directory, where its `lease.<epoch>` files are (storage/lease.ts). */
  readonly leaseDir: string;
}

/** vms/<id>/config.json: what the agent knows of a VM, enough to report it after a restart. */
export interface VmRecord {
  readonly version: 1;
  readonly vmId: string;
  epoch: number;
  state: VmStateName;
  readonly spec: VmSpecRecord;
  lastExit: string;
  exitCode: number;
  readonly createdAtMs: number;
  startedAtMs: number;
}

/** Written to a temp file and renamed: a crash mid-write leaves the old record, never half of one. */
export function writeRecord(path: string, record: VmRecord): void {
  const { staged } = stageRecord(path, record);
  renameSync(staged, path);
}

/**
 * Writes the record beside `path` now; renaming `staged` to `path` puts it in place, for a caller
 * whose moment to commit is latency-bound (a live migration's commit point, in the pause).
 */
export function stageRecord(path: string, record: VmRecord): { staged: string; path: string } {
  const staged = `${path}.tmp`;
  writeFileSync(staged, `${JSON.stringify(record, null, 2)}\n`);
  return { staged, path };
}

export function readRecord(path: string): VmRecord {
  let raw: unknown;
  try {
    raw = JSON.parse(readFileSync(path, "utf8"));
  } catch (err) {
    throw agentError("VM_RECORD_CORRUPT", `cannot read ${path}: ${(err as Error).message}`, { path });
  }
  const r = raw as Partial<VmRecord>;
  const ok =
    r.version === 1 &&
    typeof r.vmId === "string" &&
    typeof r.epoch === "number" &&
    typeof r.state === "string" &&
    (VM_STATES as readonly string[]).includes(r.state) &&
    typeof r.spec === "object" &&
    r.spec !== null &&
    typeof r.spec.memoryBytes === "number" &&
    typeof r.spec.kernelPath === "string";
  if (!ok) throw agentError("VM_RECORD_CORRUPT", `${path} is not a VM record`, { path });
  return r as VmRecord;
}

export function recordExists(path: string): boolean {
  return existsSync(path);
}

/** vms/<id>/exit.json: why a VMM ended, written by the VMM itself just before it exits on purpose. */
export interface ExitRecord {
  /** poweroff: the guest powered off; stop: forced by StopVm; suspend: snapshot written; fatal: guest wedged or the VMM failed; migrated: the guest runs on another node now. */
  readonly reason: "poweroff" | "stop" | "suspend" | "fatal" | "migrated";
  readonly code: number;
  readonly message: string;
  readonly atMs: number;
  /**
   * After "migrated": true when the destination opened the same disk on shared storage (it is
   * the VPS's disk still), false when the disk was copied (the copy left behind is garbage).
   */
  readonly diskInPlace?: boolean;
}

export function writeExitRecord(path: string, exit: ExitRecord): void {
  const tmp = `${path}.tmp`;
  writeFileSync(tmp, JSON.stringify(exit));
  renameSync(tmp, path);
}

export function readExitRecord(path: string): ExitRecord | undefined {
  try {
    const r = JSON.parse(readFileSync(path, "utf8")) as ExitRecord;
    return typeof r.reason === "string" ? r : undefined;
  } catch {
    return undefined;
  }
}
