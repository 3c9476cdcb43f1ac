/** Helpers for tests and benchmarks that migrate VMs between real agents. */
import type { ServiceError } from "@grpc/grpc-js";
import type {
  MigrateVmProgress,
  MigrateVmRequest,
  MigrationPhase,
  MigrationResult,
  MigrationRound,
  NodeAgentClient,
  PrepareMigrationTargetRequest,
  PrepareMigrationTargetResponse,
  VmSpec,
} from "@skiff/proto";
import { agentName, auth } from "./harness.js";

export function prepareTarget(
  client: NodeAgentClient,
  req: PrepareMigrationTargetRequest,
): Promise<PrepareMigrationTargetResponse> {
  return new Promise((resolve, reject) =>
    client.prepareMigrationTarget(
      req,
      auth(),
      (err: ServiceError | null, res: PrepareMigrationTargetResponse) => (err ? reject(err) : resolve(res)),
    ),
  );
}

export interface MigrateCall {
  readonly rounds: MigrationRound[];
  /** Phases the source entered (stop-and-copy, committing), as they were reported. */
  readonly phases: MigrationPhase[];
  readonly done: Promise<MigrationResult>;
  cancel(): void;
}

export function migrateVm(client: NodeAgentClient, req: MigrateVmRequest): MigrateCall {
  const rounds: MigrationRound[] = [];
  const phases: MigrationPhase[] = [];
  const stream = client.migrateVm(req, auth());
  const done = new Promise<MigrationResult>((resolve, reject) => {
    let result: MigrationResult | undefined;
    stream.on("data", (p: MigrateVmProgress) => {
      if (p.kind?.$case === "round") rounds.push(p.kind.value);
      else if (p.kind?.$case === "phase") phases.push(p.kind.value);
      else if (p.kind?.$case === "result") result = p.kind.value;
    });
    stream.on("error", reject);
    stream.on("end", () =>
      result ? resolve(result) : reject(new Error("MigrateVm ended without a result")),
    );
  });
  // Callers may look at the outcome late (after killing an agent): never an unhandled rejection.
  done.catch(() => undefined);
  return { rounds, phases, done, cancel: () => stream.cancel() };
}

export interface Hop {
  readonly from: NodeAgentClient;
  readonly to: NodeAgentClient;
  readonly toAgentAddress: string;
  /** The destination's node name, which its certificates must carry (default: the one the harness started there). */
  readonly toNode?: string;
  readonly vmId: string;
  readonly epoch: number;
  readonly spec: VmSpec;
  readonly migrationId: string;
  readonly options?: MigrateVmRequest["options"];
  /** Where the source VMM should connect (defaults to what the destination said; a proxy in tests). */
  readonly via?: (streamAddress: string) => string | Promise<string>;
}

/** Prepare on the destination, then migrate from the source; returns the MigrateVm call. */
export async function startHop(h: Hop): Promise<MigrateCall & { streamAddress: string }> {
  const t = await prepareTarget(h.to, {
    ref: { vmId: h.vmId, epoch: h.epoch + 1 },
    spec: h.spec,
    migrationId: h.migrationId,
    timeoutMs: 0,
  });
  const call = migrateVm(h.from, {
    ref: { vmId: h.vmId, epoch: h.epoch },
    migrationId: h.migrationId,
    targetStreamAddress: h.via ? await h.via(t.streamAddress) : t.streamAddress,
    token: t.token,
    targetEpoch: h.epoch + 1,
    targetAgentAddress: h.toAgentAddress,
    targetNode: h.toNode ?? agentName(Number(h.toAgentAddress.split(":").pop())),
    ...(h.options ? { options: h.options } : {}),
  });
  return { ...call, streamAddress: t.streamAddress };
}
