/** What the VMM lends its live-migration parts (migrate-out.ts, migrate-in.ts). */
import type { Socket } from "node:net";
import type { Logger } from "@skiff/common";
import type { DirtyBitmap } from "@skiff/hv-core";
import type { VmPaths } from "../vm/layout.js";
import type { ExitRecord, VmSpecRecord } from "../vm/record.js";
import type { GuestMemory } from "./guest.js";
import type { VmmMessage, VmmStatus } from "./protocol.js";
import type { Vcpu } from "./vcpu.js";

export interface MigrationHost {
  readonly vmId: string;
  readonly paths: VmPaths;
  readonly spec: VmSpecRecord;
  readonly memory: GuestMemory;
  /** Guest RAM's dirty bitmap (the usage sampler leaves it alone while a migration runs). */
  readonly dirty: DirtyBitmap;
  readonly log: Logger;
  vcpu(): Vcpu | undefined;
  state(): VmmStatus["state"];
  setState(state: VmmStatus["state"]): void;
  /** Runs `fn` after the VMM's other mutating operations (pause, stop, suspend, ...). */
  serial<T>(fn: () => Promise<T>): Promise<T>;
  /** Ends the VMM on purpose (exit.json, goodbye to every connection, exit). */
  finish(exit: ExitRecord): Promise<void>;
  /**
   * Before the pause of a migration's last copy: the node switch keeps the NIC's frames from now
   * on (none in flight to the guest), until the guest resumes here or its port moves away.
   */
  holdNic(): Promise<void>;
  /** The guest runs on here after all: the switch delivers what it kept. */
  resumeNic(): void;
  /** The guest of an incoming migration runs now: start the VMM's usual duties. */
  started(instret: number): void;
}

/** One control connection, as a migration operation sees it. */
export interface MigrationConn {
  readonly socket: Socket;
  send(msg: VmmMessage): void;
}

/** An operation's answer; `after` runs once the answer is on its way. */
export interface MigrationReply<R> {
  readonly result: R;
  readonly after?: () => void;
}
