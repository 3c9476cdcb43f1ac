import { join } from "node:path";
import { agentError } from "../errors.js";

/**
 * The agent's data dir:
 *   vms/<id>/config.json        the VM record (spec, epoch, last known state), written atomically
 *   vms/<id>/disk.img           the VM's own disk (a copy of the template)
 *   vms/<id>/vmm.sock           the VMM's control socket (exists while a VMM runs)
 *   vms/<id>/vmm.pid            the VMM's pid (to kill a VMM that stopped answering)
 *   vms/<id>/exit.json          written by a VMM that exits on purpose (why, exit code)
 *   vms/<id>/snapshot.skiffsnap the suspend snapshot
 *   vms/<id>/console.log        serial output (bounded; the last screen is in the VMM's ring)
 *   vms/<id>/vmm.log            the VMM process's own log (pino)
 *   vms/<id>/nic0.sock          the NIC's link to the node switch (the agent listens, the VMM connects)
 */
export interface VmPaths {
  readonly dir: string;
  readonly config: string;
  readonly disk: string;
  readonly socket: string;
  readonly pid: string;
  readonly exit: string;
  readonly snapshot: string;
  readonly consoleLog: string;
  readonly vmmLog: string;
  readonly nic: string;
}

const VM_ID = /^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$/;

export function vmsDir(dataDir: string): string {
  return join(dataDir, "vms");
}

export function validateVmId(vmId: string): void {
  if (!VM_ID.test(vmId) || vmId.includes("..")) {
    throw agentError("INVALID_ARGUMENT", `bad vm id "${vmId}": 1-64 of [A-Za-z0-9_.-]`, { vmId });
  }
}

export function vmPaths(dataDir: string, vmId: string): VmPaths {
  validateVmId(vmId);
  return pathsInDir(join(vmsDir(dataDir), vmId));
}

/** The same layout seen from inside one VM's dir (what a VMM process knows). */
export function pathsInDir(dir: string): VmPaths {
  return {
    dir,
    config: join(dir, "config.json"),
    disk: join(dir, "disk.img"),
    socket: join(dir, "vmm.sock"),
    pid: join(dir, "vmm.pid"),
    exit: join(dir, "exit.json"),
    snapshot: join(dir, "snapshot.skiffsnap"),
    consoleLog: join(dir, "console.log"),
    vmmLog: join(dir, "vmm.log"),
    nic: join(dir, "nic0.sock"),
  };
}
