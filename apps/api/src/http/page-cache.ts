import { performance } from "node:perf_hooks";
import type { FastifyReply } from "fastify";
import { LIST_MAX_AGE_MS } from "./list-freshness.js";

/**
 * A read that concurrent callers share: a caller gets the answer of a read that started less than
 * `maxAgeMs` before it called, so any change committed that long before is in it. Callers reuse
 * the last answer while it is that young, and once it is half that old the next read starts
 * behind them, so under load a caller rarely waits for a read. One read runs at a time: a caller
 * for whom the running read is too old waits for the next, which starts when it ends, one for all
 * of them (with `maxAgeMs` 0, every caller does). A failed read is not kept.
 */
export class RecentRead<T> {
  private settled: { readonly at: number; readonly value: T } | undefined;
  private running: { readonly at: number; readonly value: Promise<T> } | undefined;
  private queued: Promise<T> | undefined;

  constructor(
    private readonly read: () => Promise<T>,
    private readonly maxAgeMs: number,
    private readonly now: () => number = () => performance.now(),
  ) {}

  next(): Promise<T> {
    const now = this.now();
    const last = this.settled;
    if (last && now - last.at < this.maxAgeMs) {
      if (!this.running && now - last.at >= this.maxAgeMs / 2) this.start();
      return Promise.resolve(last.value);
    }
    const running = this.running;
    if (!running) return this.start();
    if (now - running.at < this.maxAgeMs) return running.value;
    this.queued ??= running.value.then(ignore, ignore).then(() => {
      this.queued = undefined;
      // A read running now started after the one these callers saw had ended: after they came.
      return this.running?.value ?? this.start();
    });
    return this.queued;
  }

  private start(): Promise<T> {
    const read = { at: this.now(), value: this.read() };
    this.running = read;
    const done = () => {
      if (this.running === read) this.running = undefined;
    };
    read.value.then((v) => {
      if (!this.settled || this.settled.at < read.at) this.settled = { at: read.at, value: v };
      done();
    }, done);
    return read.value;
  }
}

const ignore = () => undefined;

interface Page {
  readonly version: string;
  readonly body: Promise<Buffer>;
  bytes: number;
}

/**
 * One list's pages as sent (serialized), per query, in one API process: a page is served again
 * while the list's change counter is where it was when the page was read, so a request costs a
 * share of one counter read instead of the page's query, decoding and serialization. The counter
 * comes from a read started at most LIST_MAX_AGE_MS before the request (RecentRead), and before
 * the page it keys, so a page is never older than its counter. Concurrent requests for a page
 * being read wait for that read. The pages kept are bounded in bytes, least recently used dropped
 * first.
 */
export class PageCache {
  private readonly pages = new Map<string, Page>();
  private readonly version: RecentRead<string>;
  private bytes = 0;

  constructor(
    readVersion: () => Promise<string>,
    private readonly maxBytes = 32 * 2 ** 20,
    maxAgeMs = LIST_MAX_AGE_MS,
  ) {
    this.version = new RecentRead(readVersion, maxAgeMs);
  }

  /** The page of `key` (its query in canonical form, the caller's scope included), read if needed. */
  async get(key: string, read: () => Promise<Buffer>): Promise<Buffer> {
    const version = await this.version.next();
    const hit = this.pages.get(key);
    if (hit) this.drop(key, hit);
    if (hit?.version === version) {
      this.pages.set(key, hit); // most recently used: last in the map's order
      this.bytes += hit.bytes;
      return hit.body;
    }
    const page: Page = { version, body: read(), bytes: 0 };
    this.pages.set(key, page);
    page.body.then(
      (body) => {
        if (this.pages.get(key) !== page) return;
        page.bytes = body.length;
        this.bytes += body.length;
        for (const [k, p] of this.pages) {
          if (this.bytes <= this.maxBytes) break;
          this.drop(k, p);
        }
      },
      () => {
        if (this.pages.get(key) === page) this.drop(key, page); // a failed read is not kept
      },
    );
    return page.body;
  }

  private drop(key: string, page: Page): void {
    this.pages.delete(key);
    this.bytes -= page.bytes;
  }
}

/** A page as the route's serializer writes it: its response schema decides what goes out. */
export function serialized(reply: FastifyReply, page: unknown): Buffer {
  const body = reply.serialize(page);
  return typeof body === "string" ? Buffer.from(body) : Buffer.from(body as ArrayBuffer);
}

/** Sends a page kept serialized: as it is, past the route's serializer. */
export function sendSerialized(reply: FastifyReply, body: Buffer): FastifyReply {
  return reply.type("application/json; charset=utf-8").send(body);
}
