import { closeSync, fstatSync, openSync, readFileSync } from "node:fs";
import { SkiffError } from "@skiff/common";
import { readAt } from "../file-read.js";

/**
 * A boot payload (kernel, initrd): its bytes, or the file they are in. A file is read straight to
 * where the payload goes (guest RAM), not into a buffer first: where a first touch of memory is
 * costly (a page fault in a VM, ~15 us each on our machines) that buffer cost as much as the copy
 * into RAM (the 3.4 MiB kernel: ~33 ms read and copied, ~12 ms read in place, load 6).
 */
export type Payload = Uint8Array | { readonly path: string };

/** A payload opened for loading. */
export interface PayloadSource {
  readonly size: number;
  /** Its first `n` bytes (all of it when shorter). */
  head(n: number): Uint8Array;
  /** Copies all of it into `into` from `offset`. */
  copyTo(into: Uint8Array, offset: number): void;
  close(): void;
}

export function openPayload(payload: Payload): PayloadSource {
  if (payload instanceof Uint8Array) {
    return {
      size: payload.length,
      head: (n) => payload.subarray(0, n),
      copyTo: (into, offset) => into.set(payload, offset),
      close: () => {},
    };
  }
  const path = payload.path;
  const fd = openSync(path, "r");
  let size: number;
  try {
    size = fstatSync(fd).size;
  } catch (err) {
    closeSync(fd);
    throw err;
  }
  return {
    size,
    head(n) {
      const out = new Uint8Array(Math.min(n, size));
      return out.subarray(0, readAt(fd, out, 0, out.length, 0));
    },
    copyTo(into, offset) {
      if (readAt(fd, into, offset, size, 0) !== size)
        throw new SkiffError("PAYLOAD_SHORT", `${path}: the file got shorter while it was read`);
    },
    close: () => closeSync(fd),
  };
}

/** The payload's bytes (an ELF is parsed whole). */
export function payloadBytes(payload: Payload): Uint8Array {
  return payload instanceof Uint8Array ? payload : readFileSync(payload.path);
}
