/**
 * The last `capacity` bytes of a VM's console output: what a viewer who attaches now sees first
 * (the recent screen), like a terminal's scrollback.
 */
export class ConsoleRing {
  private readonly buf: Uint8Array;
  /** Total bytes ever written; the ring holds the last min(written, capacity) of them. */
  private written = 0;

  constructor(readonly capacity = 64 * 1024) {
    this.buf = new Uint8Array(capacity);
  }

  write(bytes: Uint8Array): void {
    const src = bytes.length > this.capacity ? bytes.subarray(bytes.length - this.capacity) : bytes;
    const start = (this.written + (bytes.length - src.length)) % this.capacity;
    const first = Math.min(src.length, this.capacity - start);
    this.buf.set(src.subarray(0, first), start);
    if (first < src.length) this.buf.set(src.subarray(first), 0);
    this.written += bytes.length;
  }

  /** The retained output, oldest first. */
  contents(): Uint8Array {
    if (this.written <= this.capacity) return this.buf.slice(0, this.written);
    const start = this.written % this.capacity;
    const out = new Uint8Array(this.capacity);
    out.set(this.buf.subarray(start), 0);
    out.set(this.buf.subarray(0, start), this.capacity - start);
    return out;
  }

  get totalWritten(): number {
    return this.written;
  }
}
