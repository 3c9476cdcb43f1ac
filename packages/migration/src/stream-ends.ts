/**
 * The two ends of a migration stream, independent of what carries it (gRPC between VMM processes,
 * or memory in tests). Records travel as encoded bytes (codec.ts), replies as messages.
 */
import type { MigrationReply } from "@skiff/proto";
import { MigrationErrorCode, migrationError } from "./format.js";

/** The source's end. */
export interface SenderLink {
  /**
   * Queues records, back to back in this order; resolves when the link can take more
   * (backpressure), rejects once it broke.
   */
  send(...records: Buffer[]): Promise<void>;
  /** The next reply; rejects when the link fails or ends first. */
  reply(): Promise<MigrationReply>;
  /** Half-closes: no more records. */
  end(): void;
  /** Tears the stream down (the other end sees it break). */
  close(reason?: Error): void;
}

/** The destination's way back to the source. */
export interface ReceiverPort {
  reply(reply: MigrationReply): void;
  /** Ends the stream after the last reply. */
  close(): void;
}

/** Replies in arrival order for one reader; a failure rejects the waiting and all later reads. */
export class ReplyQueue {
  private readonly queued: MigrationReply[] = [];
  private readonly waiters: { resolve(r: MigrationReply): void; reject(e: Error): void }[] = [];
  private failure: Error | undefined;

  push(reply: MigrationReply): void {
    const w = this.waiters.shift();
    if (w) w.resolve(reply);
    else this.queued.push(reply);
  }

  fail(err: Error): void {
    if (this.failure) return;
    this.failure = err;
    for (const w of this.waiters.splice(0)) w.reject(err);
  }

  get failed(): Error | undefined {
    return this.failure;
  }

  next(): Promise<MigrationReply> {
    const r = this.queued.shift();
    if (r) return Promise.resolve(r);
    if (this.failure) return Promise.reject(this.failure);
    return new Promise((resolve, reject) => this.waiters.push({ resolve, reject }));
  }
}

/** An async queue of records for an in-process receiver. */
class RecordQueue implements AsyncIterable<Uint8Array> {
  private readonly items: Uint8Array[] = [];
  private waiter: (() => void) | undefined;
  private ended = false;
  private error: Error | undefined;

  push(b: Uint8Array): void {
    this.items.push(b);
    this.wake();
  }

  end(err?: Error): void {
    this.ended = true;
    this.error ??= err;
    this.wake();
  }

  get length(): number {
    return this.items.length;
  }

  private wake(): void {
    const w = this.waiter;
    this.waiter = undefined;
    w?.();
  }

  async *[Symbol.asyncIterator](): AsyncIterator<Uint8Array> {
    for (;;) {
      const b = this.items.shift();
      if (b) {
        yield b;
        continue;
      }
      if (this.ended) {
        if (this.error) throw this.error;
        return;
      }
      await new Promise<void>((r) => {
        this.waiter = r;
      });
    }
  }
}

export interface MemoryLinkOptions {
  /** Break the stream once this many record bytes went through (fault injection). */
  readonly cutAfterBytes?: number;
  /** Records in flight before send() waits. */
  readonly window?: number;
}

/** An in-process stream: the sender's link, and the receiver's records and port. */
export function memoryLink(opts: MemoryLinkOptions = {}): {
  sender: SenderLink;
  records: AsyncIterable<Uint8Array>;
  port: ReceiverPort;
  bytes: () => number;
} {
  const records = new RecordQueue();
  const replies = new ReplyQueue();
  const window = opts.window ?? 8;
  let bytes = 0;
  let broken: Error | undefined;
  let drained: (() => void) | undefined;
  const breakLink = (err: Error) => {
    if (broken) return;
    broken = err;
    records.end(err);
    replies.fail(err);
    drained?.();
  };
  const sender: SenderLink = {
    async send(...sent) {
      for (const record of sent) {
        if (broken) throw broken;
        if (opts.cutAfterBytes !== undefined && bytes + record.length > opts.cutAfterBytes) {
          // The part that fits reaches the receiver torn: it must not apply half a record.
          breakLink(
            migrationError(MigrationErrorCode.STREAM_BROKEN, `link cut after ${opts.cutAfterBytes} bytes`),
          );
          throw broken;
        }
        bytes += record.length;
        records.push(record);
      }
      while (records.length >= window && !broken) {
        await new Promise<void>((r) => {
          drained = r;
          setImmediate(r);
        });
      }
    },
    reply: () => replies.next(),
    end: () => records.end(),
    close: (reason) =>
      breakLink(reason ?? migrationError(MigrationErrorCode.STREAM_BROKEN, "the sender closed the stream")),
  };
  const port: ReceiverPort = {
    reply: (r) => {
      if (!broken) replies.push(r);
    },
    close: () => {
      replies.fail(migrationError(MigrationErrorCode.STREAM_BROKEN, "the receiver closed the stream"));
    },
  };
  return { sender, records, port, bytes: () => bytes };
}
