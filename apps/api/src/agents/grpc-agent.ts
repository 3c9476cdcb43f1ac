import { credentials, Metadata, type ServiceError, status } from "@grpc/grpc-js";
import {
  BootMode,
  type ConsoleResponse,
  type MigrateVmProgress,
  MigrationOutcome,
  MigrationPhase,
  type MigrationRound,
  NodeAgentClient,
  type VmInfo,
  VmState,
} from "@skiff/proto";
import {
  AgentCallError,
  type AgentClient,
  type AgentDirectory,
  type ConsoleSession,
  type MigrateVmInput,
  type MigrationOutcomeInfo,
  type MigrationProgress,
  type MigrationRoundInfo,
  type VmRef,
  type VmSpecInput,
  type VmStateName,
  type VmStatus,
} from "./agent-client.js";

const STATE_NAMES: Record<number, VmStateName> = {
  [VmState.VM_STATE_CREATED]: "created",
  [VmState.VM_STATE_RUNNING]: "running",
  [VmState.VM_STATE_PAUSED]: "paused",
  [VmState.VM_STATE_STOPPED]: "stopped",
  [VmState.VM_STATE_SUSPENDED]: "suspended",
  [VmState.VM_STATE_CRASHED]: "crashed",
};

const PHASES: Record<number, MigrationRoundInfo["phase"]> = {
  [MigrationPhase.MIGRATION_PHASE_PRECOPY]: "precopy",
  [MigrationPhase.MIGRATION_PHASE_STOPCOPY]: "stopcopy",
  [MigrationPhase.MIGRATION_PHASE_COMMITTING]: "committing",
};

const OUTCOMES: Record<number, MigrationOutcomeInfo["outcome"]> = {
  [MigrationOutcome.MIGRATION_OUTCOME_COMMITTED]: "committed",
  [MigrationOutcome.MIGRATION_OUTCOME_ROLLED_BACK]: "rolled-back",
  [MigrationOutcome.MIGRATION_OUTCOME_IN_DOUBT]: "in-doubt",
};

function roundOf(r: MigrationRound): MigrationRoundInfo {
  return {
    round: r.round,
    phase: PHASES[r.phase] ?? "unknown",
    pages: r.pages,
    zeroPages: r.zeroPages,
    blocks: r.blocks,
    bytes: r.bytes,
    ms: r.ms,
    dirtyPagesPerSec: r.dirtyPagesPerSec,
    throttlePercent: r.throttlePercent,
    bandwidthBytesPerSec: r.bandwidthBytesPerSec,
  };
}

function progressOf(m: MigrateVmProgress): MigrationProgress | null {
  if (m.kind?.$case === "round") return { kind: "round", round: roundOf(m.kind.value) };
  if (m.kind?.$case === "phase") return { kind: "phase", phase: PHASES[m.kind.value] ?? "unknown" };
  if (m.kind?.$case === "result") {
    const r = m.kind.value;
    const st = r.stats;
    return {
      kind: "result",
      result: {
        outcome: OUTCOMES[r.outcome] ?? "unknown",
        errorCode: r.errorCode,
        errorMessage: r.errorMessage,
        stats: st
          ? {
              rounds: st.rounds.map(roundOf),
              downtimeMs: st.downtimeMs,
              totalMs: st.totalMs,
              bytesSent: st.bytesSent,
              nonzeroBytes: st.nonzeroBytes,
              diskBytesSent: st.diskBytesSent,
              throughputBytesPerSec: st.throughputBytesPerSec,
              maxThrottlePercent: st.maxThrottlePercent,
              targetEpoch: st.targetEpoch,
            }
          : null,
      },
    };
  }
  return null;
}

function statusOf(vm: VmInfo | undefined, ref: { vmId: string; epoch?: number }): VmStatus {
  return {
    vmId: vm?.ref?.vmId ?? ref.vmId,
    epoch: vm?.ref?.epoch ?? ref.epoch ?? 0,
    state: vm ? (STATE_NAMES[vm.state] ?? "unknown") : "unknown",
    lastExit: vm?.lastExit ?? "",
  };
}

/** gRPC statuses worth retrying: the agent is down, restarting or overloaded. */
const TRANSIENT = new Set<number>([
  status.UNAVAILABLE,
  status.DEADLINE_EXCEEDED,
  status.RESOURCE_EXHAUSTED,
  status.ABORTED,
]);

function toAgentError(err: ServiceError, method: string, address: string): AgentCallError {
  const fromMeta = err.metadata?.get("skiff-error-code")?.[0];
  const fromMessage = /^([A-Z][A-Z0-9_]+):/.exec(err.details ?? "")?.[1];
  const transient = TRANSIENT.has(err.code);
  const code =
    (typeof fromMeta === "string" ? fromMeta : undefined) ??
    fromMessage ??
    (transient ? "AGENT_UNAVAILABLE" : "AGENT_ERROR");
  return new AgentCallError(code, `agent ${address} ${method}: ${err.details || err.message}`, transient, {
    grpcCode: err.code,
    method,
  });
}

function protoSpec(spec: VmSpecInput) {
  return {
    memoryBytes: spec.memoryBytes,
    vcpus: spec.vcpus,
    bootMode: spec.bootMode === "firmware" ? BootMode.BOOT_MODE_FIRMWARE : BootMode.BOOT_MODE_LINUX,
    kernelPath: spec.kernelPath,
    initrdPath: spec.initrdPath,
    diskImagePath: spec.diskImagePath,
    diskBytes: spec.diskBytes,
    kernelArgs: spec.kernelArgs,
    limits: { cpuMillis: spec.cpuMillis, vmmOverheadMib: 0 },
    labels: { ...spec.labels },
    ...(spec.diskMustExist ? { diskMustExist: true } : {}),
  };
}

type Unary<Req, Res> = (
  req: Req,
  md: Metadata,
  opts: { deadline: Date },
  cb: (err: ServiceError | null, res: Res) => void,
) => unknown;

export class GrpcAgentClient implements AgentClient {
  private readonly client: NodeAgentClient;

  constructor(
    private readonly address: string,
    private readonly token: string,
    private readonly timeoutMs = 30_000,
  ) {
    this.client = new NodeAgentClient(address, credentials.createInsecure(), {
      "grpc.max_receive_message_length": 16 * 1024 * 1024,
    });
  }

  private call<Req, Res>(
    method: string,
    fn: Unary<Req, Res>,
    req: Req,
    timeoutMs = this.timeoutMs,
  ): Promise<Res> {
    const md = new Metadata();
    md.set("authorization", `Bearer ${this.token}`);
    return new Promise((resolve, reject) => {
      fn.call(this.client, req, md, { deadline: new Date(Date.now() + timeoutMs) }, (err, res) => {
        if (err) reject(toAgentError(err, method, this.address));
        else resolve(res);
      });
    });
  }

  async createVm(ref: VmRef, spec: VmSpecInput, start: boolean): Promise<VmStatus> {
    // Copying the disk template and booting a VMM can take a while on a loaded host.
    const res = await this.call(
      "CreateVm",
      this.client.createVm as Unary<unknown, { vm?: VmInfo }>,
      { ref, start, spec: protoSpec(spec) },
      90_000,
    );
    return statusOf(res.vm, ref);
  }

  async prepareMigrationTarget(ref: VmRef, spec: VmSpecInput, migrationId: string) {
    const res = await this.call(
      "PrepareMigrationTarget",
      this.client.prepareMigrationTarget as Unary<unknown, { streamAddress: string; token: string }>,
      { ref, spec: protoSpec(spec), migrationId, timeoutMs: 0 },
      90_000,
    );
    return { streamAddress: res.streamAddress, token: res.token };
  }

  migrateVm(req: MigrateVmInput): AsyncIterable<MigrationProgress> {
    const md = new Metadata();
    md.set("authorization", `Bearer ${this.token}`);
    const stream = this.client.migrateVm(
      {
        ref: req.ref,
        migrationId: req.migrationId,
        targetStreamAddress: req.targetStreamAddress,
        token: req.token,
        targetEpoch: req.targetEpoch,
        targetAgentAddress: req.targetAgentAddress,
        options: {
          maxDowntimeMs: req.options.maxDowntimeMs ?? 0,
          bandwidthBytesPerSec: req.options.bandwidthBytesPerSec ?? 0,
          maxRounds: req.options.maxRounds ?? 0,
          timeoutMs: req.options.timeoutMs ?? 0,
          disableAutoConverge: false,
          compression: 0,
        },
      },
      md,
    );
    const address = this.address;
    return {
      async *[Symbol.asyncIterator]() {
        try {
          for await (const m of stream as AsyncIterable<MigrateVmProgress>) {
            const p = progressOf(m);
            if (p) yield p;
          }
        } catch (err) {
          throw toAgentError(err as ServiceError, "MigrateVm", address);
        } finally {
          stream.cancel();
        }
      },
    };
  }

  async cancelMigration(vmId: string, migrationId: string): Promise<boolean> {
    const res = await this.call(
      "CancelMigration",
      this.client.cancelMigration as Unary<unknown, { cancelled: boolean }>,
      { vmId, migrationId },
    );
    return res.cancelled;
  }

  async abortMigrationTarget(vmId: string, migrationId: string) {
    const res = await this.call(
      "AbortMigrationTarget",
      this.client.abortMigrationTarget as Unary<unknown, { committed: boolean; vm?: VmInfo }>,
      { vmId, migrationId },
    );
    return { committed: res.committed, vm: res.vm ? statusOf(res.vm, { vmId }) : null };
  }

  async resolveMigration(ref: VmRef, migrationId: string, committed: boolean): Promise<VmStatus | null> {
    const res = await this.call(
      "ResolveMigration",
      this.client.resolveMigration as Unary<unknown, { vm?: VmInfo }>,
      { ref, migrationId, committed },
    );
    return res.vm ? statusOf(res.vm, ref) : null;
  }

  private async refCall(method: string, fn: unknown, ref: VmRef, extra: object = {}, timeoutMs?: number) {
    const res = await this.call(method, fn as Unary<unknown, { vm?: VmInfo }>, { ref, ...extra }, timeoutMs);
    return statusOf(res.vm, ref);
  }

  startVm(ref: VmRef) {
    return this.refCall("StartVm", this.client.startVm, ref);
  }
  stopVm(ref: VmRef, opts: { force?: boolean; timeoutMs?: number } = {}) {
    const graceMs = opts.timeoutMs ?? 10_000;
    return this.refCall(
      "StopVm",
      this.client.stopVm,
      ref,
      { force: opts.force ?? false, timeoutMs: graceMs },
      graceMs + 15_000,
    );
  }
  rebootVm(ref: VmRef) {
    return this.refCall("RebootVm", this.client.rebootVm, ref);
  }
  pauseVm(ref: VmRef) {
    return this.refCall("PauseVm", this.client.pauseVm, ref);
  }
  resumeVm(ref: VmRef) {
    return this.refCall("ResumeVm", this.client.resumeVm, ref);
  }
  suspendVm(ref: VmRef) {
    return this.refCall("SuspendVm", this.client.suspendVm, ref, {}, 120_000);
  }
  resumeSuspendedVm(ref: VmRef) {
    return this.refCall("ResumeSuspendedVm", this.client.resumeSuspendedVm, ref, {}, 120_000);
  }
  async destroyVm(ref: VmRef, opts: { deleteDisk?: boolean } = {}): Promise<void> {
    await this.call("DestroyVm", this.client.destroyVm as Unary<unknown, unknown>, {
      ref,
      ...(opts.deleteDisk ? { deleteDisk: true } : {}),
    });
  }
  async getVm(vmId: string): Promise<VmStatus | null> {
    try {
      const res = await this.call("GetVm", this.client.getVm as Unary<unknown, { vm?: VmInfo }>, { vmId });
      return res.vm ? statusOf(res.vm, { vmId }) : null;
    } catch (err) {
      if (err instanceof AgentCallError && err.code === "VM_NOT_FOUND") return null;
      throw err;
    }
  }

  openConsole(ref: VmRef, opts: { readOnly: boolean; skipReplay: boolean }): ConsoleSession {
    const md = new Metadata();
    md.set("authorization", `Bearer ${this.token}`);
    const stream = this.client.console(md);
    stream.write({
      kind: { $case: "attach", value: { ref, readOnly: opts.readOnly, skipReplay: opts.skipReplay } },
    });
    let ended = false;
    const endCbs: ((e?: AgentCallError) => void)[] = [];
    const end = (e?: AgentCallError) => {
      if (ended) return;
      ended = true;
      for (const cb of endCbs) cb(e);
    };
    stream.on("error", (err: ServiceError) => {
      end(err.code === status.CANCELLED ? undefined : toAgentError(err, "Console", this.address));
    });
    stream.on("end", () => end());
    return {
      onOutput: (cb) =>
        stream.on("data", (m: ConsoleResponse) => {
          if (m.kind?.$case === "replay" || m.kind?.$case === "output") cb(m.kind.value);
        }),
      onState: (cb) =>
        stream.on("data", (m: ConsoleResponse) => {
          if (m.kind?.$case === "state") cb(STATE_NAMES[m.kind.value] ?? "unknown");
        }),
      onEnd: (cb) => {
        endCbs.push(cb);
      },
      input: (bytes) => {
        if (!ended) stream.write({ kind: { $case: "input", value: Buffer.from(bytes) } });
      },
      sendBreak: () => {
        if (!ended) stream.write({ kind: { $case: "sendBreak", value: true } });
      },
      close: () => {
        if (!ended) stream.cancel();
      },
    };
  }

  close(): void {
    this.client.close();
  }
}

/** One client per node address, reused (gRPC channels are long-lived and multiplexed). */
export class GrpcAgentDirectory implements AgentDirectory {
  private readonly clients = new Map<string, GrpcAgentClient>();

  constructor(private readonly token: string) {}

  forNode(node: { id: string; grpcAddress: string }): AgentClient {
    const key = `${node.id}@${node.grpcAddress}`;
    let c = this.clients.get(key);
    if (!c) {
      c = new GrpcAgentClient(node.grpcAddress, this.token);
      this.clients.set(key, c);
    }
    return c;
  }

  close(): void {
    for (const c of this.clients.values()) c.close();
    this.clients.clear();
  }
}
