/**
 * The destination agent's side of a cold move (a VM no VMM runs): ImportVm pulls the VM's disk
 * and suspend snapshot from the source agent (cold-source.ts) into a staging dir beside `vms/`,
 * checks sizes and checksums, and only then renames the staging dir into place and adopts the
 * VM: that rename is the commit. Until it, nothing of the VM is listed here, and an abort (or the
 * caller going away) discards the staging dir; after it, the VM is here at its new epoch and a
 * repeat of the call answers with it. A disk on shared storage both nodes mount stays where it is.
 */
import { createHash, type Hash } from "node:crypto";
import { copyFileSync, existsSync, mkdirSync, renameSync, rmSync } from "node:fs";
import { type FileHandle, open } from "node:fs/promises";
import { join } from "node:path";
import { Metadata } from "@grpc/grpc-js";
import { errorMessage, type Logger, SkiffError } from "@skiff/common";
import {
  ExportFile,
  type ExportVmChunk,
  type ExportVmHeader,
  type NodeAgentClient,
  vmStateFromProto,
} from "@skiff/proto";
import { agentError, isAgentErrorCode } from "../errors.js";
import { ERROR_CODE_KEY } from "../grpc/errors.js";
import type { VmRef, VmRegistry, VmSpecInput, VmView } from "../registry/registry.js";
import type { SpecResolver } from "../registry/spec.js";
import { claimLease, refuseIfOwnedAbove } from "../storage/lease.js";
import { pathsInDir, vmPaths } from "../vm/layout.js";
import type { VmStateName } from "../vm/lifecycle.js";
import { type VmRecord, writeRecord } from "../vm/record.js";
import { EXPORT_CHUNK_BYTES } from "./cold-source.js";

export interface ColdImportDeps {
  readonly registry: VmRegistry;
  readonly specs: SpecResolver;
  readonly dataDir: string;
  readonly nodeName: string;
  /** The agents' shared token (to call the source agent). */
  readonly token: string;
  /** A client of the source agent at `address`, run by node `node` ("": any). */
  connect(address: string, node: string): NodeAgentClient;
  readonly log: Logger;
}

export interface ImportRequest {
  /** The VM at the epoch it gets here. */
  readonly ref: VmRef;
  readonly input: VmSpecInput;
  readonly migrationId: string;
  readonly sourceAgentAddress: string;
  readonly sourceEpoch: number;
  readonly sourceNode: string;
}

export interface ImportResult {
  readonly vm: VmView;
  readonly bytesCopied: number;
  readonly diskInPlace: boolean;
}

/** States a VM moves cold in (no VMM holds its RAM). */
const COLD_STATES: readonly VmStateName[] = ["created", "stopped", "suspended", "crashed"];

interface Pending {
  readonly migrationId: string;
  readonly ac: AbortController;
  readonly done: Promise<unknown>;
}

export class ColdImports {
  private readonly pending = new Map<string, Pending>();
  private readonly log: Logger;
  private readonly root: string;

  constructor(private readonly deps: ColdImportDeps) {
    this.log = deps.log.child({ part: "cold-import" });
    this.root = join(deps.dataDir, "imports");
    // Imports an earlier run of the agent left unfinished never committed: they go.
    rmSync(this.root, { recursive: true, force: true });
  }

  async import(req: ImportRequest, signal?: AbortSignal): Promise<ImportResult> {
    const { registry } = this.deps;
    const { vmId, epoch } = req.ref;
    if (req.migrationId === "" || req.sourceAgentAddress === "") {
      throw agentError("INVALID_ARGUMENT", "migration_id and source_agent_address are required");
    }
    if (epoch <= req.sourceEpoch) {
      throw agentError("INVALID_ARGUMENT", `target epoch ${epoch} must be above ${req.sourceEpoch}`);
    }
    if (registry.has(vmId)) {
      const vm = registry.get(vmId);
      // Already committed here by an earlier call of the same move.
      if (vm.record.epoch === epoch) return { vm, bytesCopied: 0, diskInPlace: false };
      throw agentError("VM_EXISTS", `vm ${vmId} is held here at epoch ${vm.record.epoch}`, { vmId });
    }
    const old = this.pending.get(vmId);
    if (old?.migrationId === req.migrationId) {
      throw agentError("MIGRATION_IN_PROGRESS", `vm ${vmId} is being imported already`, { vmId });
    }
    if (old) await this.abort(vmId, old.migrationId);
    this.deps.specs.validate(req.input);
    const ac = new AbortController();
    signal?.addEventListener("abort", () => ac.abort(), { once: true });
    const run = this.run(req, ac.signal);
    const p: Pending = { migrationId: req.migrationId, ac, done: run.catch(() => undefined) };
    this.pending.set(vmId, p);
    try {
      return await run;
    } finally {
      if (this.pending.get(vmId) === p) this.pending.delete(vmId);
    }
  }

  /** Stops an import in flight (it discards what it staged); resolves once it ended either way. */
  async abort(vmId: string, migrationId: string): Promise<void> {
    const p = this.pending.get(vmId);
    if (!p || (migrationId !== "" && p.migrationId !== migrationId)) return;
    p.ac.abort();
    await p.done;
  }

  close(): void {
    for (const p of this.pending.values()) p.ac.abort();
  }

  private async run(req: ImportRequest, signal: AbortSignal): Promise<ImportResult> {
    const { vmId, epoch } = req.ref;
    const { registry, specs } = this.deps;
    const paths = vmPaths(this.deps.dataDir, vmId);
    const staging = pathsInDir(join(this.root, vmId));
    const spec = specs.record(vmId, req.input, paths);
    const ds = spec.diskStorage;
    rmSync(staging.dir, { recursive: true, force: true });
    mkdirSync(staging.dir, { recursive: true, mode: 0o700 });
    const client = this.deps.connect(req.sourceAgentAddress, req.sourceNode);
    try {
      const md = new Metadata();
      md.set("authorization", `Bearer ${this.deps.token}`);
      const stream = client.exportVm(
        { ref: { vmId, epoch: req.sourceEpoch }, migrationId: req.migrationId, storageId: ds?.id ?? "" },
        md,
      );
      const cancel = () => stream.cancel();
      signal.addEventListener("abort", cancel, { once: true });
      let received: Received;
      try {
        received = await receive(
          stream as AsyncIterable<ExportVmChunk>,
          staging,
          spec.diskPath !== "",
          signal,
        );
      } catch (err) {
        if (signal.aborted) throw agentError("MIGRATION_CANCELLED", `import of ${vmId} aborted`, { vmId });
        if (err instanceof SkiffError) throw err;
        throw sourceRefusal(err, `copy of ${vmId} from ${req.sourceAgentAddress}`);
      } finally {
        signal.removeEventListener("abort", cancel);
      }
      const { header, state, bytesCopied } = received;
      if (header.diskInPlace && !ds) {
        throw agentError(
          "MOVE_VERIFY_FAILED",
          `vm ${vmId}: the source kept the disk in place, and this node has no shared storage`,
        );
      }
      const now = Date.now();
      const record: VmRecord = {
        version: 1,
        vmId,
        epoch,
        state,
        spec,
        lastExit: `moved here cold from ${req.sourceAgentAddress}`,
        exitCode: 0,
        createdAtMs: now,
        startedAtMs: 0,
      };
      writeRecord(staging.config, record);
      signal.throwIfAborted();
      if (ds) refuseIfOwnedAbove(ds.leaseDir, vmId, epoch);
      if (ds && !header.diskInPlace) {
        // The copy becomes the VPS's disk on this node's shared storage (an older one there is stale).
        mkdirSync(ds.leaseDir, { recursive: true });
        moveFile(staging.disk, spec.diskPath);
      }
      if (registry.has(vmId)) throw agentError("VM_EXISTS", `vm ${vmId} appeared here meanwhile`, { vmId });
      signal.throwIfAborted();
      // The commit: from here on the VM is this node's at `epoch`.
      rmSync(paths.dir, { recursive: true, force: true });
      renameSync(staging.dir, paths.dir);
      if (ds) {
        try {
          claimLease(ds.leaseDir, vmId, epoch, this.deps.nodeName);
        } catch (err) {
          // Its first start claims it again, and refuses if someone newer owns it.
          this.log.warn({ vmId, err: errorMessage(err) }, "cannot claim the moved VM's disk yet");
        }
      }
      const vm = await registry.adopt(vmId);
      this.log.info(
        { vmId, epoch, state, bytesCopied, diskInPlace: header.diskInPlace, migrationId: req.migrationId },
        "vm moved here cold",
      );
      return { vm, bytesCopied, diskInPlace: header.diskInPlace };
    } catch (err) {
      rmSync(staging.dir, { recursive: true, force: true });
      throw err;
    } finally {
      client.close();
    }
  }
}

interface Received {
  readonly header: ExportVmHeader;
  readonly state: VmStateName;
  readonly bytesCopied: number;
}

/** A file being rebuilt from its non-zero chunks, hashed as it goes (gaps are zeros). */
class Incoming {
  private readonly hash: Hash = createHash("sha256");
  private hashed = 0;

  constructor(
    readonly fh: FileHandle,
    readonly size: number,
    readonly what: string,
  ) {}

  async put(offset: number, data: Uint8Array): Promise<void> {
    if (offset < this.hashed || offset + data.length > this.size) {
      throw agentError(
        "MOVE_VERIFY_FAILED",
        `${this.what}: a chunk at ${offset} is out of order or past the end`,
      );
    }
    this.zerosTo(offset);
    this.hash.update(data);
    this.hashed += data.length;
    await this.fh.write(data, 0, data.length, offset);
  }

  async finish(expected: Uint8Array): Promise<void> {
    this.zerosTo(this.size);
    await this.fh.truncate(this.size);
    await this.fh.sync();
    await this.fh.close();
    if (!Buffer.from(expected).equals(this.hash.digest())) {
      throw agentError("MOVE_VERIFY_FAILED", `${this.what}: the checksum does not match the source's`);
    }
  }

  private zerosTo(end: number): void {
    const zeros = Buffer.alloc(Math.min(EXPORT_CHUNK_BYTES, Math.max(0, end - this.hashed)));
    while (this.hashed < end) {
      const n = Math.min(zeros.length, end - this.hashed);
      this.hash.update(zeros.subarray(0, n));
      this.hashed += n;
    }
  }
}

async function receive(
  stream: AsyncIterable<ExportVmChunk>,
  staging: ReturnType<typeof pathsInDir>,
  wantDisk: boolean,
  signal: AbortSignal,
): Promise<Received> {
  let header: ExportVmHeader | undefined;
  let state: VmStateName | undefined;
  const files = new Map<ExportFile, Incoming>();
  let bytesCopied = 0;
  try {
    for await (const msg of stream) {
      signal.throwIfAborted();
      const k = msg.kind;
      if (!k) continue;
      if (k.$case === "header") {
        header = k.value;
        state = vmStateFromProto(header.state);
        if (!state || !COLD_STATES.includes(state)) {
          throw agentError(
            "INVALID_TRANSITION",
            `the source's VM is ${state ?? "in an unknown state"}: it does not move cold`,
          );
        }
        if (wantDisk && !header.diskInPlace && header.diskBytes === 0) {
          throw agentError("MOVE_VERIFY_FAILED", "the source sent no disk");
        }
        if (state === "suspended" && header.snapshotBytes === 0) {
          throw agentError("SNAPSHOT_MISSING", "the source's suspended VM has no snapshot");
        }
        if (header.diskBytes > 0)
          files.set(
            ExportFile.EXPORT_FILE_DISK,
            new Incoming(await open(staging.disk, "w"), header.diskBytes, "disk"),
          );
        if (header.snapshotBytes > 0)
          files.set(
            ExportFile.EXPORT_FILE_SNAPSHOT,
            new Incoming(await open(staging.snapshot, "w"), header.snapshotBytes, "snapshot"),
          );
      } else if (k.$case === "data") {
        const f = files.get(k.value.file);
        if (!f)
          throw agentError(
            "MOVE_VERIFY_FAILED",
            `data for a file the header did not announce (${k.value.file})`,
          );
        await f.put(k.value.offset, k.value.data);
        bytesCopied += k.value.data.length;
      } else {
        if (!header || !state) throw agentError("MOVE_VERIFY_FAILED", "the stream ended before its header");
        await files.get(ExportFile.EXPORT_FILE_DISK)?.finish(k.value.diskSha256);
        await files.get(ExportFile.EXPORT_FILE_SNAPSHOT)?.finish(k.value.snapshotSha256);
        files.clear();
        return { header, state, bytesCopied };
      }
    }
  } finally {
    for (const f of files.values()) await f.fh.close().catch(() => undefined);
  }
  throw agentError("MOVE_COPY_FAILED", "the source's stream ended without its checksums");
}

/** The source agent's own code when it refused (STALE_EPOCH, VM_NOT_FOUND …), else MOVE_COPY_FAILED. */
function sourceRefusal(err: unknown, what: string): SkiffError {
  const code = (err as { metadata?: Metadata }).metadata?.get(ERROR_CODE_KEY)[0];
  if (typeof code === "string" && isAgentErrorCode(code) && code !== "INTERNAL") {
    return agentError(code, `${what}: the source refused: ${errorMessage(err)}`);
  }
  return agentError("MOVE_COPY_FAILED", `${what}: ${errorMessage(err)}`);
}

/** Rename, or copy and remove across filesystems (shared storage is often another mount). */
function moveFile(from: string, to: string): void {
  try {
    renameSync(from, to);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== "EXDEV") throw err;
    copyFileSync(from, to);
    rmSync(from, { force: true });
  }
  if (!existsSync(to)) throw agentError("MOVE_COPY_FAILED", `${to} is missing after the move`);
}
