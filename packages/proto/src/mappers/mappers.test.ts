import { describe, expect, it } from "vitest";
import {
  CompressionMode,
  MigrationOutcome,
  MigrationPhase,
  MigrationRound,
  MigrationStats,
} from "../generated/skiff/v1/migration.js";
import { BootMode, VmSpec, VmState } from "../generated/skiff/v1/node_agent.js";
import {
  compressionModeFromProto,
  compressionModeToProto,
  migrationOutcomeFromProto,
  migrationOutcomeToProto,
  migrationPhaseFromProto,
  migrationPhaseToProto,
  migrationResultFromProto,
} from "./migration.js";
import {
  VM_STATE_NAMES,
  type VmSpecInput,
  vmSpecFromProto,
  vmSpecToProto,
  vmStateFromProto,
  vmStateToProto,
} from "./vm.js";

/** The numeric members of a ts-proto enum, without UNRECOGNIZED. */
function members(e: Record<string, string | number>): number[] {
  return Object.values(e).filter((v): v is number => typeof v === "number" && v >= 0);
}

describe("VM state names", () => {
  it("name every state but UNSPECIFIED, one to one", () => {
    const mapped = VM_STATE_NAMES.map(vmStateToProto);
    expect(new Set(mapped).size).toBe(VM_STATE_NAMES.length);
    expect([...mapped].sort()).toEqual(members(VmState).filter((v) => v !== VmState.VM_STATE_UNSPECIFIED));
    for (const name of VM_STATE_NAMES) expect(vmStateFromProto(vmStateToProto(name))).toBe(name);
    expect(vmStateFromProto(VmState.VM_STATE_UNSPECIFIED)).toBeUndefined();
    expect(vmStateFromProto(99 as VmState)).toBeUndefined();
  });
});

describe("migration enum names", () => {
  it("cover every phase, outcome and compression mode both ways", () => {
    for (const v of members(MigrationPhase))
      expect(migrationPhaseToProto(migrationPhaseFromProto(v))).toBe(v);
    for (const v of members(MigrationOutcome))
      expect(migrationOutcomeToProto(migrationOutcomeFromProto(v))).toBe(v);
    for (const v of members(CompressionMode))
      expect(compressionModeToProto(compressionModeFromProto(v))).toBe(v);
    expect(migrationPhaseFromProto(MigrationPhase.MIGRATION_PHASE_STOPCOPY)).toBe("stopcopy");
    expect(migrationOutcomeFromProto(MigrationOutcome.MIGRATION_OUTCOME_ROLLED_BACK)).toBe("rolled-back");
    expect(migrationOutcomeFromProto(42 as MigrationOutcome)).toBe("unknown");
    expect(compressionModeFromProto(42 as CompressionMode)).toBe("auto");
  });
});

describe("VM spec", () => {
  const spec: VmSpecInput = {
    memoryBytes: 64 << 20,
    vcpus: 1,
    bootMode: "firmware",
    kernelPath: "k",
    initrdPath: "",
    diskImagePath: "d.img",
    diskBytes: 1 << 20,
    kernelArgs: "console=ttyS0",
    cpuMillis: 500,
    vmmOverheadMib: 32,
    labels: { vps: "v1" },
    diskMustExist: true,
    nics: [{ mac: "52:54:00:12:34:56", ipv4: "10.200.0.2", networkId: "n1" }],
    hostname: "web1",
    sshPublicKeys: ["ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIFake a@b"],
  };

  it("survives the wire unchanged", () => {
    const wire = VmSpec.decode(VmSpec.encode(vmSpecToProto(spec)).finish());
    expect(wire.bootMode).toBe(BootMode.BOOT_MODE_FIRMWARE);
    expect(vmSpecFromProto(wire)).toEqual(spec);
  });

  it("fills the proto defaults in: one vcpu, Linux, limits 0, disk may be made", () => {
    expect(vmSpecFromProto(VmSpec.fromPartial({ memoryBytes: 4096 }))).toMatchObject({
      vcpus: 1,
      bootMode: "linux",
      cpuMillis: 0,
      vmmOverheadMib: 0,
      diskMustExist: false,
    });
    expect(vmSpecToProto({ ...spec, diskMustExist: false }).diskMustExist).toBeUndefined();
  });
});

describe("migration result", () => {
  it("names the outcome and phases and keeps every figure", () => {
    const round = MigrationRound.fromPartial({
      round: 2,
      phase: MigrationPhase.MIGRATION_PHASE_PRECOPY,
      pages: 7,
      bytes: 9,
    });
    const info = migrationResultFromProto({
      outcome: MigrationOutcome.MIGRATION_OUTCOME_COMMITTED,
      errorCode: "",
      errorMessage: "",
      stats: MigrationStats.fromPartial({ rounds: [round], downtimeMs: 12, targetEpoch: 3 }),
    });
    expect(info.outcome).toBe("committed");
    expect(info.stats?.rounds[0]).toMatchObject({ round: 2, phase: "precopy", pages: 7, bytes: 9 });
    expect(info.stats).toMatchObject({ downtimeMs: 12, targetEpoch: 3, diskInPlace: false });
    expect(
      migrationResultFromProto({ outcome: 0, errorCode: "X", errorMessage: "m", stats: undefined }).stats,
    ).toBeNull();
  });
});
