/**
 * The VMM control protocol, spoken on vms/<id>/vmm.sock between the agent (client) and one VMM
 * process (server). Length-prefixed frames: u32 big-endian length of what follows, one type byte,
 * the payload. Control messages are JSON; console bytes travel raw. The server speaks first with a
 * `hello` naming its protocol version; a client that does not speak it hangs up.
 */
import type { MigrationPhase } from "@skiff/proto";
import { agentError } from "../errors.js";
import type { ExitRecord } from "../vm/record.js";
import type { MigrationVmmOps, MigrationVmmState, RoundProgress } from "./migrate-protocol.js";

export const VMM_PROTOCOL_VERSION = 1;

export const FrameType = {
  Json: 1,
  /** Live console output (server → client, after attach). */
  Output: 2,
  /** Console input (client → server). */
  Input: 3,
  /** The recent screen from the ring buffer (server → client, once, right after attach). */
  Replay: 4,
} as const;
export type FrameType = (typeof FrameType)[keyof typeof FrameType];

const MAX_FRAME = 64 * 1024 * 1024;

export function encodeFrame(type: FrameType, payload: Uint8Array): Buffer {
  const out = Buffer.allocUnsafe(5 + payload.length);
  out.writeUInt32BE(payload.length + 1, 0);
  out[4] = type;
  out.set(payload, 5);
  return out;
}

export function encodeJson(msg: VmmMessage): Buffer {
  return encodeFrame(FrameType.Json, Buffer.from(JSON.stringify(msg)));
}

/** Reassembles frames from a byte stream (socket chunks split and merge frames arbitrarily). */
export class FrameDecoder {
  private buf: Buffer = Buffer.alloc(0);

  push(chunk: Buffer): { type: number; payload: Buffer }[] {
    this.buf = this.buf.length === 0 ? chunk : Buffer.concat([this.buf, chunk]);
    const frames: { type: number; payload: Buffer }[] = [];
    while (this.buf.length >= 4) {
      const len = this.buf.readUInt32BE(0);
      if (len < 1 || len > MAX_FRAME) {
        throw agentError("VMM_PROTOCOL", `bad frame length ${len}`);
      }
      if (this.buf.length < 4 + len) break;
      frames.push({ type: this.buf[4]!, payload: this.buf.subarray(5, 4 + len) });
      this.buf = this.buf.subarray(4 + len);
    }
    return frames;
  }
}

/** What the VMM reports about itself. */
export interface VmmStatus {
  readonly state: "booting" | "running" | "paused" | "stopping" | "exiting" | MigrationVmmState;
  readonly vmId: string;
  readonly pid: number;
  /** Guest instructions retired since this VMM booted/restored the guest. */
  readonly instret: number;
  /** Share of one host core the VMM process (all its threads) used over the last second or so. */
  readonly cpuShare: number;
  readonly dirtyPagesPerSec: number;
  readonly rssBytes: number;
  readonly startedAtMs: number;
}

/** Each operation's arguments and result. */
export interface VmmOps extends MigrationVmmOps {
  status: { args: Record<string, never>; result: VmmStatus };
  pause: { args: Record<string, never>; result: VmmStatus };
  resume: { args: Record<string, never>; result: VmmStatus };
  reboot: { args: Record<string, never>; result: VmmStatus };
  /** Graceful: SysRq s,u,o then wait; forced when force or after timeoutMs. The VMM then exits. */
  stop: { args: { force: boolean; timeoutMs: number }; result: { graceful: boolean } };
  /** Snapshot to vms/<id>/snapshot.skiffsnap, then the VMM exits. */
  suspend: { args: Record<string, never>; result: { snapshotBytes: number } };
  /** Turn this connection into a console viewer (replay: the recent screen first). */
  attach: { args: { replay: boolean; readOnly: boolean }; result: Record<string, never> };
  /** A serial BREAK into the guest. */
  break: { args: Record<string, never>; result: Record<string, never> };
  /** Receive `event` messages on every state change (the agent's supervising connection). */
  watch: { args: Record<string, never>; result: VmmStatus };
}

export type VmmOp = keyof VmmOps;

/** An operation's answer; `after` runs once the answer is on its way. */
export interface VmmReply<K extends VmmOp> {
  readonly result: VmmOps[K]["result"];
  readonly after?: () => void;
}

/**
 * One handler per operation, typed by VmmOps: a handler taking the wrong arguments or giving the
 * wrong result does not compile. `C` is the connection the request came on.
 */
export type VmmHandlers<C, K extends VmmOp = VmmOp> = {
  readonly [Op in K]: (conn: C, args: VmmOps[Op]["args"]) => Promise<VmmReply<Op>> | VmmReply<Op>;
};
export const VMM_OPS: readonly VmmOp[] = [
  "status",
  "pause",
  "resume",
  "reboot",
  "stop",
  "suspend",
  "attach",
  "break",
  "watch",
  "migrateOut",
  "migrateCancel",
  "migrateResolve",
  "incomingAttach",
  "incomingAbort",
  "incomingAdopted",
];

export type VmmMessage =
  | { t: "hello"; protocol: number; status: VmmStatus }
  | { t: "req"; id: number; op: VmmOp; args: unknown }
  | { t: "res"; id: number; ok: true; result: unknown }
  | { t: "res"; id: number; ok: false; error: { code: string; message: string } }
  | { t: "event"; status: VmmStatus }
  /** Sent to every connection just before the VMM exits on purpose (exit.json is written first). */
  | { t: "exiting"; exit: ExitRecord }
  /** Progress of an outgoing live migration, to the connection that asked for it. */
  | { t: "migration"; round: RoundProgress }
  /** The outgoing migration entered stop-and-copy or sent its commit. */
  | { t: "migration-phase"; phase: MigrationPhase };

export function parseJson(payload: Buffer): VmmMessage {
  const msg = JSON.parse(payload.toString("utf8")) as VmmMessage;
  if (typeof msg !== "object" || msg === null || typeof msg.t !== "string") {
    throw agentError("VMM_PROTOCOL", "control message without a type");
  }
  return msg;
}
