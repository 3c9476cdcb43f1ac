import { errorMessage, type Logger } from "@skiff/common";
import { agentError } from "../errors.js";
import type { GuestRecord, VmRecord } from "../vm/record.js";

/** The node switch as the registry uses it (network/node-network.ts): one port link per NIC. */
export interface NicPorts {
  /** `guest`: what the node's metadata service tells the VM about itself. */
  openPort(vmId: string, socketPath: string, guest: GuestRecord | undefined): Promise<void>;
  closePort(vmId: string): Promise<void>;
}

export function hasNic(record: VmRecord): boolean {
  return (record.spec.nics?.length ?? 0) > 0;
}

/** The VMs' NIC links on the node switch, once the agent has one (`use`). */
export class NicLinks {
  private ports: NicPorts | undefined;

  constructor(private readonly log: Logger) {}

  use(ports: NicPorts): void {
    this.ports = ports;
  }

  /** Listens for the VM's NIC link (before its VMM starts, or again for a running one). */
  async open(record: VmRecord, socketPath: string): Promise<void> {
    if (!hasNic(record)) return;
    if (!this.ports) {
      throw agentError("NETWORK_UNAVAILABLE", `vm ${record.vmId} has a NIC and this agent has no switch`);
    }
    await this.ports.openPort(record.vmId, socketPath, record.spec.guest);
  }

  close(vmId: string): void {
    this.ports?.closePort(vmId).catch((err: unknown) => {
      this.log.warn({ vmId, err: errorMessage(err) }, "cannot close a NIC link");
    });
  }
}
