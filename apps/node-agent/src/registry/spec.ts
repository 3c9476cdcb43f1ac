/** A VM spec as callers give it, checked and resolved into what the agent records and runs. */
import { existsSync } from "node:fs";
import { isAbsolute, resolve } from "node:path";
import type { VmSpecInput as VmSpecFields } from "@skiff/proto";
import { agentError } from "../errors.js";
import type { SharedStorage } from "../storage/shared.js";
import type { VmPaths } from "../vm/layout.js";
import type { VmSpecRecord } from "../vm/record.js";

/**
 * CreateVm's spec as the caller gives it (paths may be relative to the repo root), every field
 * filled in by vmSpecFromProto (packages/proto).
 */
export type VmSpecInput = Required<VmSpecFields>;

const MAX_MEMORY = 2 ** 31;
/** Bounds on what the metadata service holds per VM (the API checks each key's format). */
const MAX_SSH_KEYS = 32;
const MAX_SSH_KEY_BYTES = 16 * 1024;
const MAC = /^[0-9a-f]{2}(:[0-9a-f]{2}){5}$/i;

export interface SpecOptions {
  readonly repoRoot: string;
  /** Shared storage for VM disks; undefined: disks live in the data dir. */
  readonly storage: SharedStorage | undefined;
  /** The VMM's memory headroom when the spec asks for none. */
  readonly vmmOverheadMib: number;
}

export class SpecResolver {
  constructor(private readonly opts: SpecOptions) {}

  resolvePath(p: string): string {
    return isAbsolute(p) ? p : resolve(this.opts.repoRoot, p);
  }

  /** INVALID_ARGUMENT naming the first field this node cannot run. */
  validate(input: VmSpecInput): void {
    const bad = (msg: string): never => {
      throw agentError("INVALID_ARGUMENT", msg);
    };
    const m = input.memoryBytes;
    if (!Number.isInteger(m) || m < 1 << 20 || m > MAX_MEMORY || m % 4096 !== 0)
      bad(`memory_bytes must be a multiple of 4 KiB between 1 MiB and 2 GiB, got ${m}`);
    if (input.vcpus > 1) bad("only 1 vcpu per VM is supported");
    if (input.kernelPath === "") bad("kernel_path is required");
    for (const [what, p] of [
      ["kernel", input.kernelPath],
      ["initrd", input.initrdPath],
      ["disk image", input.diskImagePath],
    ] as const) {
      if (p !== "" && !existsSync(this.resolvePath(p))) bad(`${what} ${p} does not exist`);
    }
    if (input.cpuMillis < 0 || input.cpuMillis > 1000) bad("cpu_millis must be 0..1000");
    // The node switch plugs one port per VPS.
    if (input.nics.length > 1) bad("only one NIC per VM is supported");
    for (const nic of input.nics) {
      if (!MAC.test(nic.mac) || (Number.parseInt(nic.mac.slice(0, 2), 16) & 1) === 1)
        bad(`nic mac ${nic.mac} is not a unicast MAC (xx:xx:xx:xx:xx:xx)`);
      if (nic.networkId === "") bad("nic network_id is required");
    }
    if (input.hostname.length > 253) bad("hostname is longer than 253 characters");
    if (input.sshPublicKeys.length > MAX_SSH_KEYS) bad(`at most ${MAX_SSH_KEYS} ssh_public_keys`);
    for (const key of input.sshPublicKeys) {
      if (key.length > MAX_SSH_KEY_BYTES || /[\r\n]/.test(key))
        bad("an ssh public key is one line of at most 16 KiB");
    }
  }

  /** The spec as this node records it: absolute paths, the disk where this node keeps it. */
  record(vmId: string, input: VmSpecInput, paths: VmPaths): VmSpecRecord {
    const shared = input.diskImagePath !== "" ? this.opts.storage : undefined;
    return {
      memoryBytes: input.memoryBytes,
      vcpus: 1,
      bootMode: input.bootMode,
      kernelPath: this.resolvePath(input.kernelPath),
      initrdPath: input.initrdPath === "" ? "" : this.resolvePath(input.initrdPath),
      diskPath: input.diskImagePath === "" ? "" : shared ? shared.diskPath(vmId) : paths.disk,
      ...(shared ? { diskStorage: { id: shared.id, leaseDir: shared.diskDir(vmId) } } : {}),
      diskBytes: input.diskBytes,
      kernelArgs: input.kernelArgs,
      cpuMillis: input.cpuMillis,
      vmmOverheadMib: input.vmmOverheadMib > 0 ? input.vmmOverheadMib : this.opts.vmmOverheadMib,
      labels: { ...input.labels },
      ...(input.nics.length > 0 ? { nics: input.nics.map((n) => ({ ...n })) } : {}),
      ...(input.hostname !== "" || input.sshPublicKeys.length > 0
        ? { guest: { hostname: input.hostname, publicKeys: [...input.sshPublicKeys] } }
        : {}),
    };
  }
}
