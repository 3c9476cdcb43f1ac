/**
 * The NodeAgent RPCs on a VM's files: cold moves, resizes and disk snapshots (merged into the
 * agent's gRPC service in agent.ts).
 */
import type { ServerUnaryCall, ServerWritableStream, ServiceError, sendUnaryData } from "@grpc/grpc-js";
import { errorMessage, type Logger } from "@skiff/common";
import type { ExportVmChunk, ExportVmRequest, NodeAgentServer } from "@skiff/proto";
import { refFromProto, specFromProto, vmInfo } from "../grpc/convert.js";
import { toServiceError } from "../grpc/errors.js";
import type { VmRegistry } from "../registry/registry.js";
import { resizeVm } from "../registry/resize.js";
import type { DiskSnapshots } from "../storage/disk-snapshots.js";
import { exportVm } from "./cold-source.js";
import type { ColdImports } from "./cold-target.js";
import { authorized } from "./service.js";

export type ColdRpcs =
  | "importVm"
  | "exportVm"
  | "resizeVm"
  | "snapshotDisk"
  | "restoreDiskSnapshot"
  | "deleteDiskSnapshot";

export interface ColdServiceDeps {
  readonly registry: VmRegistry;
  readonly imports: ColdImports;
  readonly snapshots: DiskSnapshots;
  readonly token: string;
  readonly log: Logger;
}

export function coldMoveService(deps: ColdServiceDeps): Pick<NodeAgentServer, ColdRpcs> {
  const { registry, imports, snapshots, log } = deps;

  function unary<Req, Res>(name: string, fn: (req: Req, signal: AbortSignal) => Promise<Res>) {
    return (call: ServerUnaryCall<Req, Res>, callback: sendUnaryData<Res>): void => {
      const ac = new AbortController();
      // The caller going away abandons the work (an import not committed yet is discarded).
      call.on("cancelled", () => ac.abort());
      void (async () => {
        authorized(call.metadata, deps.token);
        return fn(call.request, ac.signal);
      })().then(
        (res) => callback(null, res),
        (err: unknown) => {
          log.info({ rpc: name, err: errorMessage(err) }, "rpc refused");
          callback(toServiceError(err) as ServiceError);
        },
      );
    };
  }

  function exportRpc(call: ServerWritableStream<ExportVmRequest, ExportVmChunk>): void {
    const ac = new AbortController();
    call.on("cancelled", () => ac.abort());
    const write = (chunk: ExportVmChunk) =>
      new Promise<void>((resolve, reject) => {
        if (call.cancelled) return reject(new Error("the destination went away"));
        if (call.write(chunk)) resolve();
        else call.once("drain", () => resolve());
      });
    void (async () => {
      authorized(call.metadata, deps.token);
      await exportVm(
        registry,
        { ref: refFromProto(call.request.ref), storageId: call.request.storageId },
        write,
        ac.signal,
      );
    })().then(
      () => {
        if (!call.cancelled) call.end();
      },
      (err: unknown) => {
        log.info({ rpc: "ExportVm", err: errorMessage(err) }, "rpc refused");
        if (!call.cancelled) call.emit("error", toServiceError(err));
      },
    );
  }

  return {
    importVm: unary("ImportVm", async (req, signal) => {
      const r = await imports.import(
        {
          ref: refFromProto(req.ref),
          input: specFromProto(req.spec),
          migrationId: req.migrationId,
          sourceAgentAddress: req.sourceAgentAddress,
          sourceEpoch: req.sourceEpoch,
          sourceNode: req.sourceNode,
        },
        signal,
      );
      return { vm: vmInfo(r.vm), bytesCopied: r.bytesCopied, diskInPlace: r.diskInPlace };
    }),
    exportVm: exportRpc,
    resizeVm: unary("ResizeVm", async (req) => ({
      vm: vmInfo(
        await resizeVm(registry, refFromProto(req.ref), {
          memoryBytes: req.memoryBytes,
          cpuMillis: req.cpuMillis,
          diskBytes: req.diskBytes,
        }),
      ),
    })),
    snapshotDisk: unary("SnapshotDisk", async (req) => snapshots.take(refFromProto(req.ref), req.snapshotId)),
    restoreDiskSnapshot: unary("RestoreDiskSnapshot", async (req) => ({
      vm: vmInfo(await snapshots.restore(refFromProto(req.ref), req.snapshotId)),
    })),
    deleteDiskSnapshot: unary("DeleteDiskSnapshot", async (req) => ({
      deleted: snapshots.delete(req.snapshotId),
    })),
  };
}
