import { closeSync, openSync, renameSync, statSync, writeSync } from "node:fs";

/**
 * vms/<id>/console.log: the serial output on disk, for operators and post-mortems. Bounded: past
 * `maxBytes` it rotates to console.log.1 (one generation kept).
 */
export class ConsoleLog {
  private fd: number;
  private size: number;

  constructor(
    private readonly path: string,
    private readonly maxBytes = 4 * 1024 * 1024,
  ) {
    this.fd = openSync(path, "a");
    this.size = statSync(path).size;
  }

  write(bytes: Uint8Array): void {
    if (this.fd < 0) return;
    if (this.size + bytes.length > this.maxBytes) {
      closeSync(this.fd);
      renameSync(this.path, `${this.path}.1`);
      this.fd = openSync(this.path, "a");
      this.size = 0;
    }
    writeSync(this.fd, bytes);
    this.size += bytes.length;
  }

  close(): void {
    if (this.fd >= 0) closeSync(this.fd);
    this.fd = -1;
  }
}
