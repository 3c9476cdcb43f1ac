/** Between the registry's records and the NodeAgent protobuf messages (names: packages/proto). */
import {
  type VmInfo,
  type VmRef as VmRefMsg,
  type VmSpec,
  type VmUsage,
  vmSpecFromProto,
  vmSpecToProto,
  vmStateToProto,
} from "@skiff/proto";
import { agentError } from "../errors.js";
import type { VmRef, VmSpecInput, VmView } from "../registry/registry.js";

export function refFromProto(ref: VmRefMsg | undefined): VmRef {
  if (!ref || ref.vmId === "") throw agentError("INVALID_ARGUMENT", "ref.vm_id is required");
  return { vmId: ref.vmId, epoch: ref.epoch };
}

export function specFromProto(spec: VmSpec | undefined): VmSpecInput {
  if (!spec) throw agentError("INVALID_ARGUMENT", "spec is required");
  return vmSpecFromProto(spec);
}

export function vmInfo(v: VmView): VmInfo {
  const r = v.record;
  const s = r.spec;
  return {
    ref: { vmId: r.vmId, epoch: r.epoch },
    state: vmStateToProto(r.state),
    // The record keeps the VM's own disk where the request named the template.
    spec: vmSpecToProto({ ...s, diskImagePath: s.diskPath }),
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
    state: vmStateToProto(v.record.state),
    memoryBytes: v.record.spec.memoryBytes,
    vmmRssBytes: v.rssBytes,
    cpuShare: v.status?.cpuShare ?? 0,
    dirtyPagesPerSec: v.status?.dirtyPagesPerSec ?? 0,
  };
}
