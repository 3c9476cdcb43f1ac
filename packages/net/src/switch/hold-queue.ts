/** How much a paused port may keep: about a NIC ring's worth, so a long pause cannot grow the agent. */
export const HOLD_MAX_FRAMES = 256;
export const HOLD_MAX_BYTES = 384 * 1024;

/**
 * The frames kept for a port whose VM is paused for a migration's last copy, in arrival order,
 * bounded by count and bytes. Each frame is copied: the caller's buffer may be reused.
 */
export class HoldQueue {
  private frames: Uint8Array[] = [];
  private bytes = 0;

  constructor(
    private readonly maxFrames = HOLD_MAX_FRAMES,
    private readonly maxBytes = HOLD_MAX_BYTES,
  ) {}

  get length(): number {
    return this.frames.length;
  }

  /** False (and nothing kept) when the frame does not fit. */
  push(frame: Uint8Array): boolean {
    if (this.frames.length >= this.maxFrames || this.bytes + frame.length > this.maxBytes) return false;
    this.frames.push(new Uint8Array(frame));
    this.bytes += frame.length;
    return true;
  }

  /** Everything kept, oldest first; the queue is empty after. */
  take(): Uint8Array[] {
    const out = this.frames;
    this.frames = [];
    this.bytes = 0;
    return out;
  }
}
