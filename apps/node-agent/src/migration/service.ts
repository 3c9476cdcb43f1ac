/** The NodeAgent RPCs of live migration (merged into the agent's gRPC service in agent.ts). */
import { timingSafeEqual } from "node:crypto";
import type {
  Metadata,
  ServerUnaryCall,
  ServerWritableStream,
  ServiceError,
  sendUnaryData,
} from "@grpc/grpc-js";
import { errorMessage, type Logger } from "@skiff/common";
import { migrationResultToProto, migrationSettingsFromProto } from "@skiff/migration";
import type { MigrateVmProgress, MigrateVmRequest, NodeAgentServer } from "@skiff/proto";
import { agentError } from "../errors.js";
import { refFromProto, specFromProto, vmInfo } from "../grpc/convert.js";
import { toServiceError } from "../grpc/errors.js";
import type { ColdImports } from "./cold-target.js";
import type { MigrationSources } from "./source.js";
import type { MigrationTargets } from "./target.js";

export type MigrationRpcs =
  | "prepareMigrationTarget"
  | "migrateVm"
  | "cancelMigration"
  | "abortMigrationTarget"
  | "resolveMigration";

export interface MigrationServiceDeps {
  readonly sources: MigrationSources;
  readonly targets: MigrationTargets;
  /** Cold moves arriving here: an abort ends theirs too. */
  readonly imports: ColdImports;
  readonly token: string;
  readonly log: Logger;
}

/** Bearer token check shared by the services outside grpc/service.ts. */
export function authorized(metadata: Metadata, token: string): void {
  const v = metadata.get("authorization")[0];
  const given = typeof v === "string" ? /^Bearer\s+(.+)$/i.exec(v.trim())?.[1] : undefined;
  const a = Buffer.from(given ?? "");
  const b = Buffer.from(token);
  if (given === undefined || a.length !== b.length || !timingSafeEqual(a, b)) {
    throw agentError("UNAUTHENTICATED", "missing or wrong agent token");
  }
}

export function migrationService(deps: MigrationServiceDeps): Pick<NodeAgentServer, MigrationRpcs> {
  const { sources, targets, log } = deps;

  function unary<Req, Res>(name: string, fn: (req: Req) => Promise<Res>) {
    return (call: ServerUnaryCall<Req, Res>, callback: sendUnaryData<Res>): void => {
      void (async () => {
        authorized(call.metadata, deps.token);
        return fn(call.request);
      })().then(
        (res) => callback(null, res),
        (err: unknown) => {
          log.info({ rpc: name, err: errorMessage(err) }, "rpc refused");
          callback(toServiceError(err) as ServiceError);
        },
      );
    };
  }

  function migrateVm(call: ServerWritableStream<MigrateVmRequest, MigrateVmProgress>): void {
    const ac = new AbortController();
    // The caller going away rolls the migration back (unless its commit is already out).
    call.on("cancelled", () => ac.abort());
    void (async () => {
      authorized(call.metadata, deps.token);
      const req = call.request;
      return sources.migrate(
        {
          ref: refFromProto(req.ref),
          migrationId: req.migrationId,
          targetStreamAddress: req.targetStreamAddress,
          token: req.token,
          targetEpoch: req.targetEpoch,
          targetAgentAddress: req.targetAgentAddress,
          targetNode: req.targetNode,
          options: migrationSettingsFromProto(req.options),
        },
        {
          round: (round) => {
            if (!call.cancelled) call.write({ kind: { $case: "round", value: round } });
          },
          phase: (phase) => {
            if (!call.cancelled) call.write({ kind: { $case: "phase", value: phase } });
          },
        },
        ac.signal,
      );
    })().then(
      (report) => {
        if (call.cancelled) return;
        call.write({ kind: { $case: "result", value: migrationResultToProto(report) } });
        call.end();
      },
      (err: unknown) => {
        log.info({ rpc: "MigrateVm", err: errorMessage(err) }, "rpc refused");
        if (!call.cancelled) call.emit("error", toServiceError(err));
      },
    );
  }

  return {
    prepareMigrationTarget: unary("PrepareMigrationTarget", async (req) =>
      targets.prepare(refFromProto(req.ref), specFromProto(req.spec), req.migrationId, req.timeoutMs),
    ),
    migrateVm,
    cancelMigration: unary("CancelMigration", async (req) => ({
      cancelled: await sources.cancel(req.vmId, req.migrationId),
    })),
    abortMigrationTarget: unary("AbortMigrationTarget", async (req) => {
      const r = await targets.abort(req.vmId, req.migrationId);
      await deps.imports.abort(req.vmId, req.migrationId);
      return r.vm ? { committed: r.committed, vm: vmInfo(r.vm) } : { committed: r.committed };
    }),
    resolveMigration: unary("ResolveMigration", async (req) => {
      const vm = await sources.resolve(refFromProto(req.ref), req.migrationId, req.committed);
      return vm ? { vm: vmInfo(vm) } : {};
    }),
  };
}
