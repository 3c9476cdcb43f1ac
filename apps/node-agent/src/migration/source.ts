/**
 * The source agent's side of a live migration: MigrateVm asks the VM's VMM to stream the guest to
 * the prepared destination VMM (the data never passes through this process) and relays its
 * progress. Committed: the VM is dropped from this node. In doubt (the commit's answer was lost):
 * the destination agent is asked whether it committed, and the VMM is told; when it cannot be
 * asked, the VM stays paused here and the control plane settles it later (ResolveMigration).
 */
import { Metadata } from "@grpc/grpc-js";
import { errorMessage, type Logger } from "@skiff/common";
import type { MigrationReport, MigrationSettings } from "@skiff/migration";
import { channelCredentials, nodeIdentity, nodeNameOf, type TlsMaterial } from "@skiff/pki";
import { type AbortMigrationTargetResponse, type MigrationPhase, NodeAgentClient } from "@skiff/proto";
import { agentError } from "../errors.js";
import type { VmRef, VmRegistry, VmView } from "../registry/registry.js";
import { readExitRecord } from "../vm/record.js";
import { VmmClient } from "../vmm/client.js";
import type { MigrateOutArgs, RoundProgress } from "../vmm/migrate-protocol.js";

export interface SourceDeps {
  readonly registry: VmRegistry;
  /** The agents' shared token (to ask the destination agent about an in-doubt commit). */
  readonly token: string;
  /** This node's TLS material, for the destination agent and the VMM's stream (absent: plaintext). */
  readonly tls?: TlsMaterial;
  readonly log: Logger;
  /**
   * A VM with a NIC committed on `node`: the node switch passes what it kept for the paused VM
   * there (network/node-network.ts). Called before the VM's port is closed here.
   */
  readonly handOverNic?: (vmId: string, node: string) => void;
}

export interface MigrateRequest {
  readonly ref: VmRef;
  readonly migrationId: string;
  readonly targetStreamAddress: string;
  readonly token: string;
  readonly targetEpoch: number;
  readonly targetAgentAddress: string;
  /** The destination node's name, which its certificates must carry ("": any node). */
  readonly targetNode: string;
  readonly options: MigrationSettings;
}

const ASK_TIMEOUT_MS = 10_000;

export class MigrationSources {
  private readonly running = new Map<string, { migrationId: string; client: VmmClient }>();
  private readonly log: Logger;

  constructor(private readonly deps: SourceDeps) {
    this.log = deps.log.child({ part: "migration-source" });
  }

  async migrate(
    req: MigrateRequest,
    progress: { round(r: RoundProgress): void; phase(p: MigrationPhase): void },
    signal: AbortSignal,
  ): Promise<MigrationReport> {
    if (req.migrationId === "") throw agentError("INVALID_ARGUMENT", "migration_id is required");
    if (req.targetStreamAddress === "" || req.token === "") {
      throw agentError("INVALID_ARGUMENT", "target_stream_address and token are required");
    }
    if (req.targetEpoch <= req.ref.epoch) {
      throw agentError("INVALID_ARGUMENT", `target epoch ${req.targetEpoch} must be above ${req.ref.epoch}`);
    }
    const vmId = req.ref.vmId;
    if (this.running.has(vmId)) throw agentError("MIGRATION_IN_PROGRESS", `vm ${vmId} is migrating already`);
    return this.deps.registry.withRunningVm(req.ref, async (vm) => {
      // Its own connection: progress messages come on it, and if this agent dies it closes and
      // the VMM rolls the migration back.
      const client = await VmmClient.connect(
        vm.paths.socket,
        { migration: progress.round, migrationPhase: progress.phase },
        3000,
      );
      this.running.set(vmId, { migrationId: req.migrationId, client });
      const cancel = () =>
        void client.request("migrateCancel", { migrationId: req.migrationId }).catch(() => undefined);
      signal.addEventListener("abort", cancel, { once: true });
      try {
        const args: MigrateOutArgs = {
          ...req.options,
          migrationId: req.migrationId,
          targetAddress: req.targetStreamAddress,
          token: req.token,
          sourceEpoch: vm.record.epoch,
          targetEpoch: req.targetEpoch,
          ...(this.deps.tls ? { tls: { files: this.deps.tls.files, targetNode: req.targetNode } } : {}),
        };
        let report: MigrationReport;
        try {
          report = await client.request("migrateOut", args, req.options.timeoutMs + 60_000);
        } catch (err) {
          // The VMM went away (or stopped answering) mid-migration: its exit record tells.
          const exit = readExitRecord(vm.paths.exit);
          if (exit?.reason === "migrated") {
            this.deps.handOverNic?.(vmId, req.targetNode);
            await vm.drop();
            return failed(req, "committed", "", "");
          }
          throw err;
        }
        if (report.outcome === "in-doubt") report = await this.settle(req, client, report);
        if (report.outcome === "committed") {
          this.deps.handOverNic?.(vmId, req.targetNode);
          await vm.drop();
        }
        if (report.outcome === "rolled-back" && req.targetAgentAddress !== "") {
          // Clean the destination up now rather than when its shell times out (best effort: the
          // control plane asks again).
          await askTarget(req, this.deps, 3000).catch(() => undefined);
        }
        this.log.info(
          {
            vmId,
            migrationId: req.migrationId,
            outcome: report.outcome,
            downtimeMs: report.downtimeMs,
            stopCopy: report.stopCopy,
          },
          "migration ended",
        );
        return report;
      } finally {
        signal.removeEventListener("abort", cancel);
        this.running.delete(vmId);
        client.close();
      }
    });
  }

  /** Asks the destination agent whether it committed, and tells the VMM. */
  private async settle(
    req: MigrateRequest,
    client: VmmClient,
    report: MigrationReport,
  ): Promise<MigrationReport> {
    if (req.targetAgentAddress === "") return report;
    let answer: AbortMigrationTargetResponse;
    try {
      answer = await askTarget(req, this.deps, ASK_TIMEOUT_MS);
    } catch (err) {
      this.log.warn(
        { vmId: req.ref.vmId, err: errorMessage(err) },
        "in-doubt migration: destination agent unreachable",
      );
      return report;
    }
    await client.request("migrateResolve", { migrationId: req.migrationId, committed: answer.committed });
    this.log.info({ vmId: req.ref.vmId, committed: answer.committed }, "in-doubt migration settled");
    return answer.committed
      ? { ...report, outcome: "committed" }
      : {
          ...report,
          outcome: "rolled-back",
          error: {
            code: "MIGRATION_STREAM_BROKEN",
            message: `${report.error?.message ?? ""} (destination did not commit)`,
          },
        };
  }

  cancel(vmId: string, migrationId: string): Promise<boolean> {
    const r = this.running.get(vmId);
    if (!r || (migrationId !== "" && r.migrationId !== migrationId)) return Promise.resolve(false);
    return r.client
      .request("migrateCancel", { migrationId: r.migrationId })
      .then((x) => x.cancelled)
      .catch(() => false);
  }

  /** ResolveMigration: what the control plane learnt from the destination. */
  resolve(ref: VmRef, migrationId: string, committed: boolean): Promise<VmView | undefined> {
    return this.deps.registry.withRunningVm(ref, async (vm) => {
      const client = await VmmClient.connect(vm.paths.socket, {}, 3000);
      try {
        await client.request("migrateResolve", { migrationId, committed });
      } finally {
        client.close();
      }
      if (committed) {
        await vm.drop();
        return undefined;
      }
      return this.deps.registry.get(ref.vmId);
    });
  }
}

function failed(
  req: MigrateRequest,
  outcome: MigrationReport["outcome"],
  code: string,
  message: string,
): MigrationReport {
  return {
    outcome,
    ...(code !== "" ? { error: { code, message } } : {}),
    rounds: [],
    downtimeMs: 0,
    totalMs: 0,
    bytesSent: 0,
    pagesSent: 0,
    zeroPagesSent: 0,
    nonZeroBytes: 0,
    diskBytesSent: 0,
    throughputBytesPerSec: 0,
    maxThrottlePercent: 0,
    targetEpoch: req.targetEpoch,
    stopReason: "",
  };
}

function askTarget(
  req: MigrateRequest,
  deps: SourceDeps,
  timeoutMs: number,
): Promise<AbortMigrationTargetResponse> {
  const { vmId } = req.ref;
  const { migrationId } = req;
  const expect =
    req.targetNode === "" ? (id: string) => nodeNameOf(id) !== undefined : nodeIdentity(req.targetNode);
  const client = new NodeAgentClient(req.targetAgentAddress, channelCredentials(deps.tls, expect, deps.log));
  const md = new Metadata();
  md.set("authorization", `Bearer ${deps.token}`);
  return new Promise<AbortMigrationTargetResponse>((resolve, reject) => {
    client.abortMigrationTarget(
      { vmId, migrationId },
      md,
      { deadline: Date.now() + timeoutMs },
      (err, res) => (err ? reject(err) : resolve(res)),
    );
  }).finally(() => client.close());
}
