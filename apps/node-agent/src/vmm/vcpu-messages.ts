/** Messages between the VMM's main thread and its vCPU worker, and between that worker and its NIC thread. */
import type { MessagePort } from "node:worker_threads";
import type { VmSpecRecord } from "../vm/record.js";
import type { GuestMemory } from "./guest.js";

export interface VcpuWorkerData {
  readonly spec: VmSpecRecord;
  readonly memory: GuestMemory;
  /** Int32Array words shared with the main thread (see WAKE). */
  readonly control: SharedArrayBuffer;
  /** Restore from this snapshot file instead of booting. */
  readonly restorePath: string | undefined;
  /** Live migration target: neither boot nor restore until a `restore` message brings the state. */
  readonly incoming?: boolean;
  /** The NIC thread's end of the frame path (a VM with a NIC): frames cross here, never via the main thread. */
  readonly nic?: MessagePort;
}

/** Index of the wake word: the main thread bumps it and notifies after every message it posts. */
export const WAKE = 0;
/** Index of an incoming migration's commit word (commit-word.ts). */
export const COMMIT = 1;
export const CONTROL_WORDS = 4;

/** A VM record written beside its place, and that place: the rename is a migration's commit point. */
export interface StagedRecord {
  readonly staged: string;
  readonly path: string;
}

/** Main thread → worker (over a MessagePort the worker polls synchronously between run slices). */
export type ToVcpu =
  /** withState: a live migration's pause, answered with the device state at the pause's priority. */
  | { t: "pause"; id: number; withState?: boolean }
  | { t: "resume"; id: number }
  | { t: "reboot"; id: number }
  | { t: "snapshot"; id: number; includeRam: boolean }
  | { t: "input"; bytes: Uint8Array }
  /** Auto-converge during a live migration: hold the vCPU back this share of the time. */
  | { t: "throttle"; percent: number }
  /**
   * Incoming migration, the hello accepted (the disk, if copied, open and sized): build the
   * machine the state will be restored into, before the pause.
   */
  | { t: "build"; diskDirty: SharedArrayBuffer | undefined }
  /**
   * Incoming migration: the device state to restore (RAM is in place); answered by `restored`.
   * Once restored, the worker makes the commit point itself when the commit word allows it:
   * it renames the staged record into place and runs the guest.
   */
  | {
      t: "restore";
      id: number;
      snapshot: Uint8Array;
      diskDirty: SharedArrayBuffer | undefined;
      record: StagedRecord;
    }
  | { t: "break" }
  | { t: "exit" };

/** Why the guest ended (the worker stops after posting it). */
export interface GuestEnd {
  readonly kind: "poweroff" | "fatal";
  readonly code: number;
  readonly message: string;
}

/** Worker → main thread. */
export type FromVcpu =
  /**
   * The guest runs: atMs is the host clock just before its first instruction; buildMs what the
   * boot or snapshot restore (file read included) took in the worker, loaded at workerLoadedAtMs.
   */
  | { t: "ready"; instret: number; atMs: number; workerLoadedAtMs: number; buildMs: number }
  /** Incoming migration: the worker is up and waits for the device state. */
  | { t: "waiting" }
  /** atMs: host clock (performance.timeOrigin based) when the restore finished. */
  | { t: "restored"; id: number; error: string; atMs: number }
  /** Incoming migration: the worker made the commit point (atMs) or failed to (error set). */
  | { t: "committed"; error: string; atMs: number }
  | { t: "output"; bytes: Uint8Array }
  /** atMs: host clock when the command took effect (a pause: the guest's last instruction). */
  | { t: "ack"; id: number; snapshot?: Uint8Array; atMs?: number }
  | { t: "stats"; instret: number }
  | { t: "rebooted" }
  | { t: "end"; end: GuestEnd };

/**
 * NIC thread → vCPU worker: frames from the node switch for the guest (those of one read from the
 * link); each message bumps the wake word, so a vCPU idle in WFI wakes at once.
 */
export interface FramesForGuest {
  readonly frames: Uint8Array[];
}

/** vCPU worker → NIC thread. */
export type FromGuestNic =
  /** Frames the guest's NIC sent, for the node switch. */
  | { t: "tx"; frames: Uint8Array[] }
  /** An incoming guest runs its first instruction here (the migration committed): claim the port. */
  | { t: "claim" };
