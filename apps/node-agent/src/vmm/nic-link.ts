/**
 * The VMM's end of its NIC's link to the node switch (a PortLinkClient on vms/<id>/nic0.sock).
 * The agent listens there; when the link drops (the agent restarts, or is not listening yet) the
 * VMM keeps trying, and frames meanwhile are dropped as on an unplugged cable: the guest's TCP
 * retransmits.
 */
import type { Logger } from "@skiff/common";
import { PortLinkClient } from "@skiff/net";

const RETRY_MS = 200;

export class NicLink {
  private client: PortLinkClient | undefined;
  private closed = false;
  private timer: NodeJS.Timeout | undefined;
  /** Frames the guest sent while no link was up. */
  droppedWhileDown = 0;

  constructor(
    private readonly path: string,
    private readonly toGuest: (frame: Uint8Array) => void,
    private readonly log: Logger,
  ) {
    void this.connect();
  }

  private async connect(): Promise<void> {
    let warned = false;
    while (!this.closed) {
      try {
        const client = await PortLinkClient.connect(this.path);
        if (this.closed) {
          await client.close();
          return;
        }
        // Copied: a frame may be a view into a larger read buffer, and it crosses to the vCPU thread.
        client.onFrame((frame) => this.toGuest(new Uint8Array(frame)));
        client.onClose(() => this.lost(client));
        this.client = client;
        this.log.info({ path: this.path }, "NIC linked to the node switch");
        return;
      } catch (err) {
        if (!warned) this.log.warn({ err, path: this.path }, "node switch not reachable; retrying");
        warned = true;
        await new Promise<void>((r) => {
          this.timer = setTimeout(r, RETRY_MS);
        });
      }
    }
  }

  private lost(client: PortLinkClient): void {
    if (this.client !== client) return;
    this.client = undefined;
    if (this.closed) return;
    this.log.warn({ path: this.path }, "NIC link lost; reconnecting");
    void this.connect();
  }

  send(frame: Uint8Array): void {
    if (this.client) this.client.send(frame);
    else this.droppedWhileDown++;
  }

  async close(): Promise<void> {
    this.closed = true;
    clearTimeout(this.timer);
    await this.client?.close();
  }
}
