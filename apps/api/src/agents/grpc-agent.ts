import {
  type CallOptions,
  type ChannelCredentials,
  type ClientUnaryCall,
  credentials,
  Metadata,
  type ServiceError,
  status,
} from "@grpc/grpc-js";
import type { Logger } from "@skiff/common";
import { channelCredentials, nodeIdentity, type RevocationList, type TlsMaterial } from "@skiff/pki";
import {
  type ConsoleResponse,
  type MigrateVmProgress,
  migrationPhaseFromProto,
  migrationResultFromProto,
  migrationRoundFromProto,
  type NetworkMap,
  NodeAgentClient,
  type VmInfo,
  type VmState,
  vmSpecToProto,
  vmStateFromProto,
} from "@skiff/proto";
import {
  AgentCallError,
  type AgentClient,
  type AgentDirectory,
  type ConsoleSession,
  type IdentityCheck,
  type ImportVmInput,
  type MigrateVmInput,
  type MigrationProgress,
  type VmRef,
  type VmSpecInput,
  type VmStateName,
  type VmStatus,
} from "./agent-client.js";

function stateName(state: VmState): VmStateName {
  return vmStateFromProto(state) ?? "unknown";
}

function progressOf(m: MigrateVmProgress): MigrationProgress | null {
  switch (m.kind?.$case) {
    case "round":
      return { kind: "round", round: migrationRoundFromProto(m.kind.value) };
    case "phase":
      return { kind: "phase", phase: migrationPhaseFromProto(m.kind.value) };
    case "result":
      return { kind: "result", result: migrationResultFromProto(m.kind.value) };
    default:
      return null;
  }
}

function statusOf(vm: VmInfo | undefined, ref: { vmId: string; epoch?: number }): VmStatus {
  return {
    vmId: vm?.ref?.vmId ?? ref.vmId,
    epoch: vm?.ref?.epoch ?? ref.epoch ?? 0,
    state: vm ? stateName(vm.state) : "unknown",
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
  // The handshake refused the node's certificate as revoked (pki's checkRevocation says so in
  // the reason, which grpc-js passes on inside its UNAVAILABLE): no retry will change that.
  if (err.code === status.UNAVAILABLE && /\bNODE_REVOKED:/.test(err.details ?? "")) {
    return new AgentCallError("NODE_REVOKED", `agent ${address} ${method}: ${err.details}`, false, {
      grpcCode: err.code,
      method,
    });
  }
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

/**
 * A unary method of the generated client, in its full form (the last of its overloads, which
 * inference picks): request and response types come from the method, so a request that does not
 * fit it does not compile.
 */
type UnaryMethod<Req, Res> = (
  req: Req,
  md: Metadata,
  opts: Partial<CallOptions>,
  cb: (err: ServiceError | null, res: Res) => void,
) => ClientUnaryCall;

/** The agents' default migration timeout (packages/migration MIGRATION_DEFAULTS). */
const MIGRATION_TIMEOUT_MS = 300_000;
/** Beyond it, the agent's own wait for its VMM's answer (60 s) and the settling after. */
const STREAM_MARGIN_MS = 90_000;

export class GrpcAgentClient implements AgentClient {
  private readonly client: NodeAgentClient;

  constructor(
    private readonly address: string,
    private readonly token: string,
    creds: ChannelCredentials = credentials.createInsecure(),
    private readonly timeoutMs = 30_000,
  ) {
    this.client = new NodeAgentClient(address, creds, {
      "grpc.max_receive_message_length": 16 * 1024 * 1024,
      // A connection whose agent stopped answering (frozen, half-open) fails its calls within
      // ~25 s instead of holding them: a migration's stream has no deadline short enough to.
      "grpc.keepalive_time_ms": 15_000,
      "grpc.keepalive_timeout_ms": 10_000,
    });
  }

  private call<Req, Res>(
    method: string,
    fn: UnaryMethod<Req, Res>,
    req: NoInfer<Req>,
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
    const req = { ref, start, spec: vmSpecToProto(spec) };
    // Copying the disk template and booting a VMM can take a while on a loaded host.
    const res = await this.call("CreateVm", this.client.createVm, req, 90_000);
    return statusOf(res.vm, ref);
  }

  async prepareMigrationTarget(ref: VmRef, spec: VmSpecInput, migrationId: string) {
    const req = { ref, spec: vmSpecToProto(spec), migrationId, timeoutMs: 0 };
    const res = await this.call("PrepareMigrationTarget", this.client.prepareMigrationTarget, req, 90_000);
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
        targetNode: req.targetNode,
        // 0 is the proto's "unset": the agent resolves it to its default.
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
      // Never forever: the migration's own limit (the agent's default when unset), and a margin.
      { deadline: Date.now() + (req.options.timeoutMs || MIGRATION_TIMEOUT_MS) + STREAM_MARGIN_MS },
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
    const req = { vmId, migrationId };
    const res = await this.call("CancelMigration", this.client.cancelMigration, req);
    return res.cancelled;
  }

  async abortMigrationTarget(vmId: string, migrationId: string) {
    const req = { vmId, migrationId };
    const res = await this.call("AbortMigrationTarget", this.client.abortMigrationTarget, req);
    return { committed: res.committed, vm: res.vm ? statusOf(res.vm, { vmId }) : null };
  }

  async resolveMigration(ref: VmRef, migrationId: string, committed: boolean): Promise<VmStatus | null> {
    const req = { ref, migrationId, committed };
    const res = await this.call("ResolveMigration", this.client.resolveMigration, req);
    return res.vm ? statusOf(res.vm, ref) : null;
  }

  async importVm(req: ImportVmInput) {
    const msg = { ...req, spec: vmSpecToProto(req.spec) };
    // The whole disk may cross the network: bounded by the copy, not by a usual call's time.
    const res = await this.call("ImportVm", this.client.importVm, msg, 30 * 60_000);
    return {
      vm: statusOf(res.vm, req.ref),
      bytesCopied: Number(res.bytesCopied),
      diskInPlace: res.diskInPlace,
    };
  }

  async resizeVm(ref: VmRef, change: { memoryBytes?: number; cpuMillis?: number; diskBytes?: number }) {
    const req = {
      ref,
      memoryBytes: change.memoryBytes ?? 0,
      cpuMillis: change.cpuMillis ?? 0,
      diskBytes: change.diskBytes ?? 0,
    };
    const res = await this.call("ResizeVm", this.client.resizeVm, req);
    return statusOf(res.vm, ref);
  }

  async snapshotDisk(ref: VmRef, snapshotId: string) {
    // A copy of the whole disk: bounded by its size, not by a usual call's time.
    const res = await this.call("SnapshotDisk", this.client.snapshotDisk, { ref, snapshotId }, 10 * 60_000);
    return { path: res.path, sizeBytes: Number(res.sizeBytes), pausedMs: res.pausedMs };
  }

  async restoreDiskSnapshot(ref: VmRef, snapshotId: string): Promise<VmStatus> {
    const req = { ref, snapshotId };
    const res = await this.call("RestoreDiskSnapshot", this.client.restoreDiskSnapshot, req, 10 * 60_000);
    return statusOf(res.vm, ref);
  }

  async deleteDiskSnapshot(snapshotId: string): Promise<boolean> {
    return (await this.call("DeleteDiskSnapshot", this.client.deleteDiskSnapshot, { snapshotId })).deleted;
  }

  async applyNetworkMap(map: NetworkMap): Promise<number> {
    const res = await this.call("ApplyNetworkMap", this.client.applyNetworkMap, { map });
    return Number(res.version);
  }

  async startVm(ref: VmRef): Promise<VmStatus> {
    const res = await this.call("StartVm", this.client.startVm, { ref });
    return statusOf(res.vm, ref);
  }

  async stopVm(ref: VmRef, opts: { force?: boolean; timeoutMs?: number } = {}): Promise<VmStatus> {
    const graceMs = opts.timeoutMs ?? 10_000;
    const req = { ref, force: opts.force ?? false, timeoutMs: graceMs };
    const res = await this.call("StopVm", this.client.stopVm, req, graceMs + 15_000);
    return statusOf(res.vm, ref);
  }

  async rebootVm(ref: VmRef): Promise<VmStatus> {
    const res = await this.call("RebootVm", this.client.rebootVm, { ref });
    return statusOf(res.vm, ref);
  }

  async pauseVm(ref: VmRef): Promise<VmStatus> {
    const res = await this.call("PauseVm", this.client.pauseVm, { ref });
    return statusOf(res.vm, ref);
  }

  async resumeVm(ref: VmRef): Promise<VmStatus> {
    const res = await this.call("ResumeVm", this.client.resumeVm, { ref });
    return statusOf(res.vm, ref);
  }

  async suspendVm(ref: VmRef): Promise<VmStatus> {
    const res = await this.call("SuspendVm", this.client.suspendVm, { ref }, 120_000);
    return statusOf(res.vm, ref);
  }

  async resumeSuspendedVm(ref: VmRef): Promise<VmStatus> {
    const res = await this.call("ResumeSuspendedVm", this.client.resumeSuspendedVm, { ref }, 120_000);
    return statusOf(res.vm, ref);
  }

  async destroyVm(ref: VmRef, opts: { deleteDisk?: boolean } = {}): Promise<void> {
    const req = { ref, ...(opts.deleteDisk ? { deleteDisk: true } : {}) };
    await this.call("DestroyVm", this.client.destroyVm, req);
  }

  async getVm(vmId: string): Promise<VmStatus | null> {
    try {
      const res = await this.call("GetVm", this.client.getVm, { vmId });
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
          if (m.kind?.$case === "state") cb(stateName(m.kind.value));
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

/**
 * One client per node address, reused (gRPC channels are long-lived and multiplexed). With TLS the
 * channel accepts only an agent whose certificate names the node: whoever answers at a registered
 * address under another name gets no call, and so no VM, from the control plane.
 */
export class GrpcAgentDirectory implements AgentDirectory {
  private readonly clients = new Map<string, GrpcAgentClient>();

  constructor(
    private readonly token: string,
    private readonly tls?: {
      readonly material: TlsMaterial;
      readonly log: Logger;
      /** Nodes the region revoked: their certificates are refused at the handshake. */
      readonly revocations?: RevocationList;
    },
  ) {}

  forNode(node: { id: string; name: string; grpcAddress: string }): AgentClient {
    const key = `${node.id}@${node.name}@${node.grpcAddress}`;
    let c = this.clients.get(key);
    if (!c) {
      const tls = this.tls;
      const creds = tls
        ? channelCredentials(tls.material, nodeIdentity(node.name), tls.log, undefined, tls.revocations)
        : credentials.createInsecure();
      c = new GrpcAgentClient(node.grpcAddress, this.token, creds);
      this.clients.set(key, c);
    }
    return c;
  }

  async verifyIdentity(node: { name: string; grpcAddress: string }): Promise<IdentityCheck> {
    if (!this.tls) return "unverified";
    let refused = false;
    const creds = channelCredentials(this.tls.material, nodeIdentity(node.name), this.tls.log, () => {
      refused = true;
    });
    const client = new NodeAgentClient(node.grpcAddress, creds);
    const md = new Metadata();
    md.set("authorization", `Bearer ${this.token}`);
    // Any answer, even a refusal of the call itself, means the handshake passed.
    const answered = await new Promise<boolean>((resolve) => {
      client.nodeStats({}, md, { deadline: Date.now() + 5000 }, (err) =>
        resolve(!err || (err.code !== status.UNAVAILABLE && err.code !== status.DEADLINE_EXCEEDED)),
      );
    }).finally(() => client.close());
    return refused ? "refused" : answered ? "proven" : "unverified";
  }

  /** Closes the channels to node `name`: the next call handshakes again (after a revocation). */
  forget(name: string): void {
    for (const [key, c] of this.clients) {
      if (key.split("@")[1] !== name) continue;
      c.close();
      this.clients.delete(key);
    }
  }

  close(): void {
    for (const c of this.clients.values()) c.close();
    this.clients.clear();
  }
}
