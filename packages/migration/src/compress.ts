/**
 * Optional batch compression. Deflate at level 1 runs at a few hundred MB/s on one core, slower
 * than a local link, so it only pays when the link is slow: when a bandwidth cap or the measured
 * bandwidth is below FAST_LINK, and only for batches it shrinks to SHRINK or less. A batch that
 * does not shrink enough turns compression off for the next BACKOFF batches.
 */
import { deflateRawSync, inflateRawSync } from "node:zlib";
import { Compression, type CompressionModeName } from "@skiff/proto";
import { MigrationErrorCode, migrationError } from "./format.js";

const FAST_LINK = 100 * 1000 * 1000;
const SHRINK = 0.7;
const BACKOFF = 16;

export class CompressionGate {
  private skip = 0;
  /** Batches sent compressed, and raw bytes saved by it. */
  compressed = 0;
  saved = 0;

  constructor(private readonly mode: CompressionModeName) {}

  /** Whether to try compressing the next batch on a link of `bandwidth` bytes/s (0 = unknown). */
  shouldTry(bandwidth: number, cap: number): boolean {
    if (this.mode === "never") return false;
    if (this.mode === "always") return true;
    const slow = (cap > 0 && cap < FAST_LINK) || (bandwidth > 0 && bandwidth < FAST_LINK);
    if (!slow) return false;
    if (this.skip > 0) {
      this.skip--;
      return false;
    }
    return true;
  }

  /** The compressed bytes when they pay for themselves, else undefined (send raw). */
  compress(raw: Uint8Array): Buffer | undefined {
    const out = deflateRawSync(raw, { level: 1 });
    if (this.mode !== "always" && out.length > raw.length * SHRINK) {
      this.skip = BACKOFF;
      return undefined;
    }
    this.compressed++;
    this.saved += raw.length - out.length;
    return out;
  }
}

/** Inflates a batch's data; it must come out at exactly `expected` bytes. */
export function decompress(compression: Compression, data: Uint8Array, expected: number): Uint8Array {
  if (compression === Compression.COMPRESSION_NONE) return data;
  if (compression !== Compression.COMPRESSION_DEFLATE) {
    throw migrationError(MigrationErrorCode.PROTOCOL, `unknown compression ${compression}`);
  }
  let out: Buffer;
  try {
    out = inflateRawSync(data, { maxOutputLength: expected });
  } catch (err) {
    throw migrationError(MigrationErrorCode.PROTOCOL, `bad compressed batch: ${(err as Error).message}`);
  }
  if (out.length !== expected) {
    throw migrationError(
      MigrationErrorCode.PROTOCOL,
      `compressed batch inflates to ${out.length} bytes, expected ${expected}`,
    );
  }
  return out;
}
