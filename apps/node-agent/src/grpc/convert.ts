/** Between the registry's records and the NodeAgent protobuf messages. */
import { SkiffError } from "@skiff/common";
import {
  BootMode,
  type VmInfo,
  type VmRef as VmRefMsg,
  type VmSpec,
  VmState,
  type VmUsage,
} from "@skiff/proto";
import type { VmStateName } from "../vm/lifecycle.js";
import type { VmRef, VmSpecInput, VmView } from "../vm/registry.js";

const STATE: Record<VmStateName, VmState> = {
  created: VmState.VM_STATE_CREATED,
  running: VmState.VM_STATE_RUNNING,
  paused: VmState.VM_STATE_PAUSED,
  stopped: VmState.VM_STATE_STOPPED,
  suspended: VmState.VM_STATE_SUSPENDED,
  crashed: VmState.VM_STATE_CRASHED,
};

export function stateToProto(s: VmStateName): VmState {
  return STATE[s];
}

export function refFromProto(ref: VmRefMsg | undefined): VmRef {
  if (!ref || ref.vmId === "") throw new SkiffError("INVALID_ARGUMENT", "ref.vm_id is required");
  return { vmId: ref.vmId, epoch: ref.epoch };
}

export function specFromProto(spec: VmSpec | undefined): VmSpecInput {
  if (!spec) throw new SkiffError("INVALID_ARGUMENT", "spec is required");
  return {
    memoryBytes: spec.memoryBytes,
    vcpus: spec.vcpus === 0 ? 1 : spec.vcpus,
    bootMode: spec.bootMode === BootMode.BOOT_MODE_FIRMWARE ? "firmware" : "linux",
    kernelPath: spec.kernelPath,
    initrdPath: spec.initrdPath,
    diskImagePath: spec.diskImagePath,
    diskBytes: spec.diskBytes,
    kernelArgs: spec.kernelArgs,
    cpuMillis: spec.limits?.cpuMillis ?? 0,
    vmmOverheadMib: spec.limits?.vmmOverheadMib ?? 0,
    labels: { ...spec.labels },
    diskMustExist: spec.diskMustExist === true,
  };
}

export function vmInfo(v: VmView): VmInfo {
  const r = v.record;
  const s = r.spec;
  return {
    ref: { vmId: r.vmId, epoch: r.epoch },
    state: STATE[r.state],
    spec: {
      memoryBytes: s.memoryBytes,
      vcpus: s.vcpus,
      bootMode: s.bootMode === "firmware" ? BootMode.BOOT_MODE_FIRMWARE : BootMode.BOOT_MODE_LINUX,
      kernelPath: s.kernelPath,
      initrdPath: s.initrdPath,
      diskImagePath: s.diskPath,
      diskBytes: s.diskBytes,
      kernelArgs: s.kernelArgs,
      limits: { cpuMillis: s.cpuMillis, vmmOverheadMib: s.vmmOverheadMib },
      labels: { ...s.labels },
    },
    vmmPid: v.vmmPid,
    instret: v.status?.instret ?? 0,
    cpuShare: v.status?.cpuShare ?? 0,
    dirtyPagesPerSec: v.status?.dirtyPagesPerSec ?? 0,
    lastExit: r.lastExit,
    exitCode: r.exitCode,
    createdAtMs: r.createdAtMs,
    startedAtMs: r.startedAtMs,
    vmmRssBytes: v.rssBytes,
  };
}

export function vmUsage(v: VmView): VmUsage {
  return {
    vmId: v.record.vmId,
    epoch: v.record.epoch,
    state: STATE[v.record.state],
    memoryBytes: v.record.spec.memoryBytes,
    vmmRssBytes: v.rssBytes,
    cpuShare: v.status?.cpuShare ?? 0,
    dirtyPagesPerSec: v.status?.dirtyPagesPerSec ?? 0,
  };
}
