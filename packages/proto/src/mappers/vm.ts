/**
 * The VM messages of the NodeAgent service in plain TypeScript terms, declared once for the API,
 * the agent and the CLI: state and boot-mode names and the VM spec, with their proto mappings.
 */
import { BootMode, type VmSpec, VmState } from "../generated/skiff/v1/node_agent.js";

import { VM_STATE_NAMES, type VmStateName } from "../vm-states.js";

export { VM_STATE_NAMES, type VmStateName };

const STATE_TO_PROTO: Readonly<Record<VmStateName, VmState>> = {
  created: VmState.VM_STATE_CREATED,
  running: VmState.VM_STATE_RUNNING,
  paused: VmState.VM_STATE_PAUSED,
  stopped: VmState.VM_STATE_STOPPED,
  suspended: VmState.VM_STATE_SUSPENDED,
  crashed: VmState.VM_STATE_CRASHED,
};

const STATE_FROM_PROTO: ReadonlyMap<VmState, VmStateName> = new Map(
  VM_STATE_NAMES.map((name) => [STATE_TO_PROTO[name], name]),
);

export function vmStateToProto(name: VmStateName): VmState {
  return STATE_TO_PROTO[name];
}

/** undefined for UNSPECIFIED or a value this build does not know (a newer agent). */
export function vmStateFromProto(state: VmState): VmStateName | undefined {
  return STATE_FROM_PROTO.get(state);
}

export type BootModeName = "linux" | "firmware";

export function bootModeToProto(name: BootModeName): BootMode {
  return name === "firmware" ? BootMode.BOOT_MODE_FIRMWARE : BootMode.BOOT_MODE_LINUX;
}

/** UNSPECIFIED means Linux (the proto's default). */
export function bootModeFromProto(mode: BootMode): BootModeName {
  return mode === BootMode.BOOT_MODE_FIRMWARE ? "firmware" : "linux";
}

/** A VM's spec as CreateVm and PrepareMigrationTarget carry it (VmSpec, limits flattened). */
export interface VmSpecInput {
  readonly memoryBytes: number;
  readonly vcpus: number;
  readonly bootMode: BootModeName;
  readonly kernelPath: string;
  /** "" when none. */
  readonly initrdPath: string;
  /** The template the VM's disk starts as a copy of; "" when the VM has no disk. */
  readonly diskImagePath: string;
  readonly diskBytes: number;
  readonly kernelArgs: string;
  /** Host CPU cap in thousandths of a core (0 = none). */
  readonly cpuMillis: number;
  /** Host memory the VMM may use above guest RAM, MiB (0 = the agent's default). */
  readonly vmmOverheadMib?: number;
  readonly labels: Readonly<Record<string, string>>;
  /**
   * The VPS ran before: its disk on shared storage must exist already; the agent refuses
   * (DISK_NOT_FOUND) rather than make a fresh one from the image.
   */
  readonly diskMustExist?: boolean;
  /** Network interfaces, eth0 first; none when absent. */
  readonly nics?: readonly NicSpecInput[];
  /** Told to the guest by the node's metadata service; "" or absent: the map's name for it. */
  readonly hostname?: string;
  /** OpenSSH public keys the guest installs for root; none when absent. */
  readonly sshPublicKeys?: readonly string[];
}

export interface NicSpecInput {
  readonly mac: string;
  readonly ipv4: string;
  readonly networkId: string;
}

export function vmSpecToProto(spec: VmSpecInput): VmSpec {
  return {
    memoryBytes: spec.memoryBytes,
    vcpus: spec.vcpus,
    bootMode: bootModeToProto(spec.bootMode),
    kernelPath: spec.kernelPath,
    initrdPath: spec.initrdPath,
    diskImagePath: spec.diskImagePath,
    diskBytes: spec.diskBytes,
    kernelArgs: spec.kernelArgs,
    limits: { cpuMillis: spec.cpuMillis, vmmOverheadMib: spec.vmmOverheadMib ?? 0 },
    labels: { ...spec.labels },
    // Left out unless set, so a spec without it reads the same as one from an older caller.
    ...(spec.diskMustExist ? { diskMustExist: true } : {}),
    nics: (spec.nics ?? []).map((n) => ({ ...n })),
    hostname: spec.hostname ?? "",
    sshPublicKeys: [...(spec.sshPublicKeys ?? [])],
  };
}

/** Every optional field filled in: 0 vcpus (the proto default) means one. */
export function vmSpecFromProto(spec: VmSpec): Required<VmSpecInput> {
  return {
    memoryBytes: spec.memoryBytes,
    vcpus: spec.vcpus === 0 ? 1 : spec.vcpus,
    bootMode: bootModeFromProto(spec.bootMode),
    kernelPath: spec.kernelPath,
    initrdPath: spec.initrdPath,
    diskImagePath: spec.diskImagePath,
    diskBytes: spec.diskBytes,
    kernelArgs: spec.kernelArgs,
    cpuMillis: spec.limits?.cpuMillis ?? 0,
    vmmOverheadMib: spec.limits?.vmmOverheadMib ?? 0,
    labels: { ...spec.labels },
    diskMustExist: spec.diskMustExist === true,
    nics: spec.nics.map((n) => ({ mac: n.mac, ipv4: n.ipv4, networkId: n.networkId })),
    hostname: spec.hostname,
    sshPublicKeys: [...spec.sshPublicKeys],
  };
}
