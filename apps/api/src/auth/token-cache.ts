/** Reads the rows of these token hashes (those that exist). */
export type ReadTokens<Row> = (hashes: readonly string[]) => Promise<Row[]>;

interface Entry<Row> {
  readonly row: Row | null;
  /** The entry's end: its read's start plus the cache's age limit. */
  readonly until: number;
  /** Looked up since it was read: refreshed with the next batch. */
  used: boolean;
}

/**
 * API tokens by hash, as read at most `ttlMs` ago (so a revocation made elsewhere applies within
 * that). Once an entry is half that old, the tokens looked up since their last read are read again
 * behind the requests, all in one query: the requests of tokens in use never wait for the
 * database, and a busy API reads its tokens about twice per `ttlMs`, not once per token.
 */
export class TokenCache<Row extends { readonly hash: string }> {
  private readonly entries = new Map<string, Entry<Row>>();
  private refreshing = false;
  /** Bumped by forget: a read started before it is not kept (it may predate a revocation). */
  private generation = 0;

  constructor(
    private readonly ttlMs: number,
    private readonly maxEntries = 10_000,
  ) {}

  async lookup(hash: string, now: number, read: ReadTokens<Row>): Promise<Row | null> {
    const hit = this.entries.get(hash);
    if (!hit || hit.until <= now) return (await this.load([hash], now, read)).get(hash) ?? null;
    hit.used = true;
    if (!this.refreshing && hit.until - now < this.ttlMs / 2) this.refresh(now, read);
    return hit.row;
  }

  forget(hash: string | undefined): void {
    this.generation++;
    if (hash === undefined) this.entries.clear();
    else this.entries.delete(hash);
  }

  private refresh(now: number, read: ReadTokens<Row>): void {
    const used = [...this.entries].filter(([, e]) => e.used && e.until > now).map(([hash]) => hash);
    this.refreshing = true;
    this.load(used, now, read)
      .catch(() => undefined) // the entries stay until their end; the next lookup tries again
      .finally(() => {
        this.refreshing = false;
      });
  }

  private async load(
    hashes: readonly string[],
    now: number,
    read: ReadTokens<Row>,
  ): Promise<Map<string, Row>> {
    const generation = this.generation;
    const rows = new Map((await read(hashes)).map((r) => [r.hash, r]));
    if (generation === this.generation) {
      if (this.entries.size + hashes.length > this.maxEntries) this.entries.clear();
      for (const hash of hashes)
        this.entries.set(hash, { row: rows.get(hash) ?? null, until: now + this.ttlMs, used: false });
    }
    return rows;
  }
}
