import { timingSafeEqual } from "node:crypto";
import type {
  Metadata,
  ServerDuplexStream,
  ServerUnaryCall,
  ServiceError,
  sendUnaryData,
} from "@grpc/grpc-js";
import { errorMessage, type Logger, SkiffError } from "@skiff/common";
import {
  type ConsoleRequest,
  type ConsoleResponse,
  type NodeAgentServer,
  vmStateToProto,
} from "@skiff/proto";
import { agentError } from "../errors.js";
import type { HostStats } from "../host/stats.js";
import type { VmRegistry } from "../registry/registry.js";
import type { StorageReport } from "../storage/shared.js";
import { hasVmm } from "../vm/lifecycle.js";
import type { VmmClient } from "../vmm/client.js";
import { refFromProto, specFromProto, vmInfo, vmUsage } from "./convert.js";
import { toServiceError } from "./errors.js";

export interface ServiceDeps {
  readonly registry: VmRegistry;
  readonly host: HostStats;
  readonly token: string;
  readonly nodeName: string;
  readonly agentVersion: string;
  readonly storage: StorageReport;
  readonly log: Logger;
}

/** A console viewer that lets this much output pile up unsent is cut off. */
const MAX_CONSOLE_BACKLOG = 4 * 1024 * 1024;

function bearer(metadata: Metadata): string | undefined {
  const v = metadata.get("authorization")[0];
  if (typeof v !== "string") return undefined;
  const m = /^Bearer\s+(.+)$/i.exec(v.trim());
  return m?.[1];
}

function sameSecret(a: string, b: string): boolean {
  const x = Buffer.from(a);
  const y = Buffer.from(b);
  return x.length === y.length && timingSafeEqual(x, y);
}

/** The RPCs this module serves: VM lifecycle, console, stats (migration RPCs live elsewhere). */
export type LifecycleRpcs =
  | "createVm"
  | "startVm"
  | "stopVm"
  | "rebootVm"
  | "pauseVm"
  | "resumeVm"
  | "destroyVm"
  | "getVm"
  | "listVms"
  | "suspendVm"
  | "resumeSuspendedVm"
  | "console"
  | "nodeStats";

/**
 * The NodeAgent gRPC service over the VM registry. Methods not given here are answered
 * UNIMPLEMENTED by grpc-js, so other modules can add theirs to the same service.
 */
export function nodeAgentService(deps: ServiceDeps): Pick<NodeAgentServer, LifecycleRpcs> {
  const { registry, log } = deps;

  const authorize = (metadata: Metadata): void => {
    const given = bearer(metadata);
    if (given === undefined || !sameSecret(given, deps.token)) {
      throw agentError("UNAUTHENTICATED", "missing or wrong agent token");
    }
  };

  function unary<Req, Res>(name: string, fn: (req: Req) => Promise<Res> | Res) {
    return (call: ServerUnaryCall<Req, Res>, callback: sendUnaryData<Res>): void => {
      const started = Date.now();
      void (async () => {
        authorize(call.metadata);
        return fn(call.request);
      })().then(
        (res) => {
          log.debug({ rpc: name, ms: Date.now() - started }, "rpc ok");
          callback(null, res);
        },
        (err: unknown) => {
          const code = err instanceof SkiffError ? err.code : "INTERNAL";
          log[code === "INTERNAL" ? "error" : "info"](
            { rpc: name, code, err: errorMessage(err) },
            "rpc refused",
          );
          callback(toServiceError(err) as ServiceError);
        },
      );
    };
  }

  function consoleStream(call: ServerDuplexStream<ConsoleRequest, ConsoleResponse>): void {
    let client: VmmClient | undefined;
    let attaching: Promise<void> | undefined;
    let done = false;
    const finish = (err?: unknown) => {
      if (done) return;
      done = true;
      client?.close();
      if (err !== undefined) call.emit("error", toServiceError(err));
      else call.end();
    };
    const send = (msg: ConsoleResponse) => {
      if (done) return;
      if (call.writableLength > MAX_CONSOLE_BACKLOG) {
        finish(agentError("CONSOLE_TOO_SLOW", "console viewer fell too far behind"));
        return;
      }
      call.write(msg);
    };
    try {
      authorize(call.metadata);
    } catch (err) {
      finish(err);
      return;
    }
    call.on("data", (req: ConsoleRequest) => {
      const kind = req.kind;
      if (kind === undefined) return;
      if (kind.$case === "attach") {
        if (attaching) return finish(agentError("INVALID_ARGUMENT", "attach sent twice"));
        const a = kind.value;
        attaching = (async () => {
          const ref = refFromProto(a.ref);
          client = await registry.openConsole(
            ref,
            { replay: !a.skipReplay, readOnly: a.readOnly },
            (bytes, replay) =>
              send({
                kind: replay
                  ? { $case: "replay", value: Buffer.from(bytes) }
                  : { $case: "output", value: Buffer.from(bytes) },
              }),
          );
          if (done) {
            client.close();
            return;
          }
          void client.closed.then(async () => {
            // Tell the viewer how the VM ended once the registry has settled it.
            const state = await registry.waitSettled(ref.vmId, 3000);
            if (state !== undefined) send({ kind: { $case: "state", value: vmStateToProto(state) } });
            finish();
          });
        })().catch((err: unknown) => finish(err));
        return;
      }
      if (!attaching)
        return finish(agentError("INVALID_ARGUMENT", "the first console message must be attach"));
      void attaching.then(() => {
        if (done || !client) return;
        if (kind.$case === "input") client.sendInput(kind.value);
        else if (kind.$case === "sendBreak" && kind.value) client.request("break", {}).catch(() => undefined);
      });
    });
    call.on("end", () => finish());
    call.on("cancelled", () => finish());
    call.on("error", () => finish());
  }

  return {
    createVm: unary("CreateVm", async (req) => ({
      vm: vmInfo(await registry.create(refFromProto(req.ref), specFromProto(req.spec), req.start)),
    })),
    startVm: unary("StartVm", async (req) => ({ vm: vmInfo(await registry.start(refFromProto(req.ref))) })),
    stopVm: unary("StopVm", async (req) => {
      const { view, graceful } = await registry.stop(refFromProto(req.ref), req.force, req.timeoutMs);
      return { vm: vmInfo(view), graceful };
    }),
    rebootVm: unary("RebootVm", async (req) => ({
      vm: vmInfo(await registry.reboot(refFromProto(req.ref))),
    })),
    pauseVm: unary("PauseVm", async (req) => ({ vm: vmInfo(await registry.pause(refFromProto(req.ref))) })),
    resumeVm: unary("ResumeVm", async (req) => ({
      vm: vmInfo(await registry.resume(refFromProto(req.ref))),
    })),
    destroyVm: unary("DestroyVm", async (req) => {
      await registry.destroy(refFromProto(req.ref), req.deleteDisk === true);
      return {};
    }),
    getVm: unary("GetVm", (req) => ({ vm: vmInfo(registry.get(req.vmId)) })),
    listVms: unary("ListVms", () => ({ vms: registry.list().map(vmInfo) })),
    suspendVm: unary("SuspendVm", async (req) => {
      const { view, snapshotBytes } = await registry.suspend(refFromProto(req.ref));
      return { vm: vmInfo(view), snapshotBytes };
    }),
    resumeSuspendedVm: unary("ResumeSuspendedVm", async (req) => ({
      vm: vmInfo(await registry.resumeSuspended(refFromProto(req.ref))),
    })),
    console: consoleStream,
    nodeStats: unary("NodeStats", () => {
      const cap = deps.host.capacity();
      const use = deps.host.usage();
      const vms = registry.list();
      return {
        nodeName: deps.nodeName,
        agentVersion: deps.agentVersion,
        cpus: cap.cpus,
        memoryBytes: cap.memoryBytes,
        memoryUsedBytes: use.memoryUsedBytes,
        diskBytes: cap.diskBytes,
        diskUsedBytes: use.diskUsedBytes,
        cpuPercent: use.cpuPercent,
        vmCount: vms.length,
        vmMemoryBytes: vms
          .filter((v) => hasVmm(v.record.state))
          .reduce((sum, v) => sum + v.record.spec.memoryBytes, 0),
        vms: vms.map(vmUsage),
        storageBackend: deps.storage.backend,
        storageId: deps.storage.id,
      };
    }),
  };
}
