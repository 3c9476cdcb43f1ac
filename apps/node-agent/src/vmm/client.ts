import { connect, type Socket } from "node:net";
import { errorMessage, SkiffError } from "@skiff/common";
import type { MigrationPhase } from "@skiff/proto";
import { agentError } from "../errors.js";
import type { ExitRecord } from "../vm/record.js";
import type { RoundProgress } from "./migrate-protocol.js";
import {
  encodeFrame,
  encodeJson,
  FrameDecoder,
  FrameType,
  parseJson,
  VMM_PROTOCOL_VERSION,
  type VmmMessage,
  type VmmOp,
  type VmmOps,
  type VmmStatus,
} from "./protocol.js";
import { withSocketAddress } from "./socket-path.js";

export interface VmmClientEvents {
  event?(status: VmmStatus): void;
  output?(bytes: Uint8Array, replay: boolean): void;
  /** A live migration's progress (on the connection that asked for migrateOut). */
  migration?(round: RoundProgress): void;
  /** The migration entered stop-and-copy or sent its commit. */
  migrationPhase?(phase: MigrationPhase): void;
}

/** The agent's end of one connection to a VMM's control socket. */
export class VmmClient {
  private nextId = 1;
  private readonly pending = new Map<
    number,
    { resolve(v: unknown): void; reject(e: Error): void; timer: NodeJS.Timeout }
  >();
  private exit: ExitRecord | undefined;
  /** Resolves when the connection closes, with the VMM's exit record if it said goodbye. */
  readonly closed: Promise<ExitRecord | undefined>;

  private constructor(
    private readonly socket: Socket,
    readonly hello: VmmStatus,
    private readonly on: VmmClientEvents,
  ) {
    this.closed = new Promise((resolve) => {
      socket.once("close", () => {
        for (const p of this.pending.values()) {
          clearTimeout(p.timer);
          p.reject(agentError("VMM_GONE", `vmm ${hello.vmId} closed the connection`));
        }
        this.pending.clear();
        resolve(this.exit);
      });
    });
  }

  /** Connects and waits for the VMM's hello (protocol version checked). */
  static async connect(path: string, on: VmmClientEvents = {}, timeoutMs = 3000): Promise<VmmClient> {
    const socket = await withSocketAddress(
      path,
      (address) =>
        new Promise<Socket>((resolve, reject) => {
          const s = connect(address);
          const timer = setTimeout(() => {
            s.destroy();
            reject(agentError("VMM_UNREACHABLE", `connect ${path}: timeout`));
          }, timeoutMs);
          s.once("connect", () => {
            clearTimeout(timer);
            resolve(s);
          });
          s.once("error", (err) => {
            clearTimeout(timer);
            reject(agentError("VMM_UNREACHABLE", `connect ${path}: ${err.message}`));
          });
        }),
    );
    socket.on("error", () => undefined);
    const decoder = new FrameDecoder();
    let client: VmmClient | undefined;
    return new Promise<VmmClient>((resolve, reject) => {
      const timer = setTimeout(() => {
        socket.destroy();
        reject(agentError("VMM_UNREACHABLE", `${path}: no hello`));
      }, timeoutMs);
      socket.once("close", () => {
        clearTimeout(timer);
        if (!client) reject(agentError("VMM_UNREACHABLE", `${path}: closed before hello`));
      });
      socket.on("data", (chunk: Buffer) => {
        let frames: ReturnType<FrameDecoder["push"]>;
        try {
          frames = decoder.push(chunk);
        } catch (err) {
          socket.destroy(err as Error);
          return;
        }
        for (const f of frames) {
          if (client) {
            client.frame(f.type, f.payload);
            continue;
          }
          const msg = f.type === FrameType.Json ? parseJson(f.payload) : undefined;
          if (msg?.t !== "hello") continue;
          clearTimeout(timer);
          if (msg.protocol !== VMM_PROTOCOL_VERSION) {
            socket.destroy();
            reject(
              agentError(
                "VMM_PROTOCOL",
                `vmm speaks protocol ${msg.protocol}, agent speaks ${VMM_PROTOCOL_VERSION}`,
              ),
            );
            return;
          }
          client = new VmmClient(socket, msg.status, on);
          resolve(client);
        }
      });
    });
  }

  private frame(type: number, payload: Buffer): void {
    if (type === FrameType.Output || type === FrameType.Replay) {
      this.on.output?.(payload, type === FrameType.Replay);
      return;
    }
    if (type !== FrameType.Json) return;
    let msg: VmmMessage;
    try {
      msg = parseJson(payload);
    } catch (err) {
      this.socket.destroy(new Error(errorMessage(err)));
      return;
    }
    if (msg.t === "res") {
      const p = this.pending.get(msg.id);
      if (!p) return;
      this.pending.delete(msg.id);
      clearTimeout(p.timer);
      if (msg.ok) p.resolve(msg.result);
      else p.reject(new SkiffError(msg.error.code, msg.error.message));
    } else if (msg.t === "event") {
      this.on.event?.(msg.status);
    } else if (msg.t === "exiting") {
      this.exit = msg.exit;
    } else if (msg.t === "migration") {
      this.on.migration?.(msg.round);
    } else if (msg.t === "migration-phase") {
      this.on.migrationPhase?.(msg.phase);
    }
  }

  request<K extends VmmOp>(op: K, args: VmmOps[K]["args"], timeoutMs = 30_000): Promise<VmmOps[K]["result"]> {
    if (this.socket.destroyed) {
      return Promise.reject(agentError("VMM_GONE", `vmm ${this.hello.vmId} is not connected`));
    }
    const id = this.nextId++;
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => {
        this.pending.delete(id);
        reject(agentError("VMM_TIMEOUT", `vmm ${this.hello.vmId}: ${op} took over ${timeoutMs} ms`));
      }, timeoutMs);
      this.pending.set(id, { resolve: resolve as (v: unknown) => void, reject, timer });
      this.socket.write(encodeJson({ t: "req", id, op, args }));
    });
  }

  sendInput(bytes: Uint8Array): void {
    if (!this.socket.destroyed) this.socket.write(encodeFrame(FrameType.Input, bytes));
  }

  close(): void {
    this.socket.destroy();
  }

  get connected(): boolean {
    return !this.socket.destroyed;
  }
}
