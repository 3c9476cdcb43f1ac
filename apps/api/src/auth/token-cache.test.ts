import { describe, expect, it } from "vitest";
import { TokenCache } from "./token-cache.js";

interface Row {
  readonly hash: string;
  readonly revoked: boolean;
}

/** A token table the test edits, and the batches read from it. */
function table(...hashes: string[]) {
  const rows = new Map<string, Row>(hashes.map((hash) => [hash, { hash, revoked: false }]));
  const reads: string[][] = [];
  const read = async (wanted: readonly string[]) => {
    reads.push([...wanted]);
    return wanted.flatMap((h) => (rows.has(h) ? [rows.get(h)!] : []));
  };
  return { rows, reads, read };
}

const flush = () => new Promise<void>((r) => setImmediate(r));

describe("TokenCache", () => {
  it("reads the tokens in use again in one batch once half their age, and never serves a row older than its age", async () => {
    const t = table("a", "b", "c");
    const cache = new TokenCache<Row>(100);
    await cache.lookup("a", 0, t.read);
    await cache.lookup("b", 10, t.read);
    await cache.lookup("c", 10, t.read); // read, then never used again
    expect(t.reads).toEqual([["a"], ["b"], ["c"]]);
    await cache.lookup("b", 40, t.read);
    t.rows.set("a", { hash: "a", revoked: true });
    // a is past half its age: answered from the cache, and a and b (used since read) read again.
    expect((await cache.lookup("a", 60, t.read))?.revoked).toBe(false);
    await flush();
    expect(t.reads.slice(3)).toEqual([["a", "b"]]);
    expect((await cache.lookup("a", 61, t.read))?.revoked).toBe(true);
    // c was not used: it ends at its age and is read on its next lookup.
    await cache.lookup("c", 110, t.read);
    expect(t.reads.slice(4)).toEqual([["c"]]);
  });

  it("keeps an unknown token as unknown, and drops a read that started before forget", async () => {
    const t = table("a");
    const cache = new TokenCache<Row>(100);
    expect(await cache.lookup("nope", 0, t.read)).toBeNull();
    await cache.lookup("nope", 1, t.read);
    expect(t.reads).toEqual([["nope"]]);

    let release!: () => void;
    const gate = new Promise<void>((r) => (release = r));
    const slow = async (wanted: readonly string[]) => {
      const rows = await t.read(wanted);
      await gate; // answered late
      return rows;
    };
    const before = cache.lookup("a", 2, slow);
    cache.forget("a"); // a revocation here while the read was under way
    t.rows.set("a", { hash: "a", revoked: true });
    release();
    expect((await before)?.revoked).toBe(false); // the read's own answer, but not kept
    expect((await cache.lookup("a", 3, t.read))?.revoked).toBe(true);
  });
});
