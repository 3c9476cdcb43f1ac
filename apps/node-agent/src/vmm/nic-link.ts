/**
 * The VMM's end of its NIC's link to the node switch (a PortLinkClient on vms/<id>/nic0.sock), run
 * by the VMM's NIC thread (nic-worker.ts). The agent listens there; when the link drops (the agent
 * restarts, or is not listening yet) the VMM keeps trying, and frames meanwhile are dropped as on
 * an unplugged cable: the guest's TCP retransmits.
 */
import type { Logger } from "@skiff/common";
import { PortLinkClient } from "@skiff/net/port-link";

const RETRY_MS = 200;
/**
 * A migration's pause waits this long at most for the switch to confirm it holds the NIC's
 * frames; past it the guest pauses anyway and what reaches it meanwhile is lost, as before holds.
 */
const HOLD_WAIT_MS = 100;

export class NicLink {
  private client: PortLinkClient | undefined;
  private closed = false;
  private timer: NodeJS.Timeout | undefined;
  /** The guest is paused for a migration's last copy: the switch keeps its frames. */
  private holding = false;
  /** Frames the guest sent while no link was up. */
  droppedWhileDown = 0;
  /** Frames the link cannot carry. */
  droppedUnsendable = 0;
  /** Frames for the guest read from the link in this turn of the event loop. */
  private incoming: Uint8Array[] = [];

  constructor(
    private readonly path: string,
    /**
     * Frames for the guest, those of one read from the link together (one message, one wake-up);
     * each has a buffer of its own, so it can be transferred.
     */
    private readonly toGuest: (frames: Uint8Array[]) => void,
    private readonly log: Logger,
    private readonly holdWaitMs = HOLD_WAIT_MS,
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
        // Copied: a frame may be a view into a larger read buffer, and it moves to the vCPU thread.
        client.onFrame(
          (frame) => this.take(new Uint8Array(frame)),
          () => this.readDone(),
        );
        client.onClose(() => this.lost(client));
        this.client = client;
        // A switch restarted during the pause knows nothing of the hold.
        if (this.holding) void client.hold();
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

  /** Collects the frames of one read; they go to the guest once the read's frames are all cut out. */
  private take(frame: Uint8Array): void {
    this.incoming.push(frame);
  }

  /**
   * The read's frames go to the guest right after it, still inside the socket's callback (not
   * in a microtask after Node's stream bookkeeping); a hold answered in the same read resolves
   * later, in a microtask, so the frames before it are posted first.
   */
  private readDone(): void {
    if (this.incoming.length === 0) return;
    const frames = this.incoming;
    this.incoming = [];
    this.toGuest(frames);
  }

  private lost(client: PortLinkClient): void {
    if (this.client !== client) return;
    this.client = undefined;
    if (this.closed) return;
    this.log.warn({ path: this.path }, "NIC link lost; reconnecting");
    void this.connect();
  }

  /**
   * Before the guest pauses for a migration's last copy: from now on the switch keeps the frames
   * for it, and every frame sent before has been handed to the guest (so it is in RAM, and copied).
   */
  async hold(): Promise<void> {
    this.holding = true;
    const client = this.client;
    if (!client) return;
    let timer: NodeJS.Timeout | undefined;
    const late = new Promise<void>((resolve) => {
      timer = setTimeout(() => {
        this.log.warn({ path: this.path }, "the node switch did not confirm holding the NIC's frames");
        resolve();
      }, this.holdWaitMs);
    });
    await Promise.race([client.hold(), late]);
    clearTimeout(timer);
  }

  /** The guest runs on here (the migration rolled back): the switch delivers what it kept. */
  resume(): void {
    if (!this.holding) return;
    this.holding = false;
    this.client?.resume();
  }

  /**
   * A migration committed into this VMM and the guest runs: the switch takes the port and
   * announces it now, ahead of the guest's first frame. With the link down, the agent's claim at
   * the commit does it.
   */
  claim(): void {
    this.client?.claim();
  }

  send(frame: Uint8Array): void {
    if (!this.client) {
      this.droppedWhileDown++;
      return;
    }
    try {
      this.client.send(frame);
    } catch {
      // The device sends none the link cannot carry (empty, over the largest); never a crash.
      this.droppedUnsendable++;
    }
  }

  async close(): Promise<void> {
    this.closed = true;
    clearTimeout(this.timer);
    await this.client?.close();
  }
}
