import type { FastifyReply } from "fastify";

/**
 * A read that concurrent callers share without ever getting an answer older than their call: a
 * caller joins the next read to start, never one already under way (it may have been sent before
 * a write the caller's client has seen). At most one read runs and one waits, whatever the load.
 */
export class SharedRead<T> {
  private running: Promise<T> | undefined;
  private queued: Promise<T> | undefined;

  constructor(private readonly read: () => Promise<T>) {}

  next(): Promise<T> {
    if (!this.running) return this.start();
    this.queued ??= this.running.then(settled, settled).then(() => {
      this.queued = undefined;
      // Any read running now was started after the running one ended, so after these callers came.
      return this.running ?? this.start();
    });
    return this.queued;
  }

  private start(): Promise<T> {
    const read = this.read();
    this.running = read;
    const done = () => {
      if (this.running === read) this.running = undefined;
    };
    read.then(done, done);
    return read;
  }
}

const settled = () => undefined;

interface Page {
  readonly version: string;
  readonly body: Promise<Buffer>;
  bytes: number;
}

/**
 * One list's pages as sent (serialized), per query, in one API process: a page is served again
 * while the list's change counter is where it was when the page was read, so a request costs a
 * share of one counter read instead of the page's query, decoding and serialization. The counter
 * is read after the request arrives (SharedRead) and before the page it keys, so a page is never
 * older than its counter: any change committed before a request, through any replica or worker,
 * is in its answer. Concurrent requests for a page being read wait for that read. The pages kept
 * are bounded in bytes, least recently used dropped first.
 */
export class PageCache {
  private readonly pages = new Map<string, Page>();
  private readonly version: SharedRead<string>;
  private bytes = 0;

  constructor(
    readVersion: () => Promise<string>,
    private readonly maxBytes = 32 * 2 ** 20,
  ) {
    this.version = new SharedRead(readVersion);
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
