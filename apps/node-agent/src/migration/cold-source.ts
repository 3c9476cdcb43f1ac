/**
 * The source agent's side of a cold move: ExportVm streams a VM no VMM runs (its disk and its
 * suspend snapshot) to the destination agent that asked (cold-target.ts). Only non-zero chunks
 * travel; the end carries each file's SHA-256 over its whole content so the destination checks
 * what it rebuilt. The VM is held (no start can slip in) until the stream ends, and stays here:
 * the control plane destroys it once the move is recorded.
 */
import { createHash } from "node:crypto";
import { existsSync, statSync } from "node:fs";
import { open } from "node:fs/promises";
import { ExportFile, type ExportVmChunk, vmStateToProto } from "@skiff/proto";
import type { VmRef, VmRegistry } from "../registry/registry.js";

/** Bytes per data message (well under the gRPC message limit). */
export const EXPORT_CHUNK_BYTES = 1 << 20;

export interface ExportRequest {
  readonly ref: VmRef;
  /** The destination's shared storage ("" for none): a disk already on it is not sent. */
  readonly storageId: string;
}

/** Writes one message; resolves once the stream can take more (backpressure). */
export type ChunkWriter = (chunk: ExportVmChunk) => Promise<void>;

export async function exportVm(
  registry: VmRegistry,
  req: ExportRequest,
  write: ChunkWriter,
  signal: AbortSignal,
): Promise<void> {
  await registry.withIdleVm(req.ref, async ({ record, paths }) => {
    const spec = record.spec;
    const diskInPlace = spec.diskStorage !== undefined && spec.diskStorage.id === req.storageId;
    const disk = spec.diskPath !== "" && !diskInPlace ? spec.diskPath : "";
    const snapshot = record.state === "suspended" && existsSync(paths.snapshot) ? paths.snapshot : "";
    const size = (p: string) => (p === "" ? 0 : statSync(p).size);
    await write({
      kind: {
        $case: "header",
        value: {
          state: vmStateToProto(record.state),
          diskInPlace,
          diskBytes: size(disk),
          snapshotBytes: size(snapshot),
        },
      },
    });
    const diskSha256 =
      disk === "" ? Buffer.alloc(0) : await sendFile(disk, ExportFile.EXPORT_FILE_DISK, write, signal);
    const snapshotSha256 =
      snapshot === ""
        ? Buffer.alloc(0)
        : await sendFile(snapshot, ExportFile.EXPORT_FILE_SNAPSHOT, write, signal);
    await write({ kind: { $case: "end", value: { diskSha256, snapshotSha256 } } });
  });
}

const ZEROS = new Uint8Array(EXPORT_CHUNK_BYTES);

/** Sends the file's non-zero chunks; returns the SHA-256 of all of it. */
async function sendFile(
  path: string,
  file: ExportFile,
  write: ChunkWriter,
  signal: AbortSignal,
): Promise<Buffer> {
  const hash = createHash("sha256");
  const fh = await open(path, "r");
  try {
    for (let offset = 0; ; ) {
      signal.throwIfAborted();
      const buf = Buffer.allocUnsafe(EXPORT_CHUNK_BYTES);
      const { bytesRead } = await fh.read(buf, 0, buf.length, offset);
      if (bytesRead === 0) break;
      const data = buf.subarray(0, bytesRead);
      hash.update(data);
      if (Buffer.compare(data, ZEROS.subarray(0, bytesRead)) !== 0) {
        await write({ kind: { $case: "data", value: { file, offset, data } } });
      }
      offset += bytesRead;
    }
  } finally {
    await fh.close();
  }
  return hash.digest();
}
