// Drives a guest's serial console from Node like a person at a terminal: type a line, wait for
// text to appear, with timeouts. Shared by qemu-smoke.mjs and boot-bench.mjs.
import { spawn } from "node:child_process";

export const PROMPT = "skiff# ";
export const BOOT_TIMEOUT_MS = 120_000;
export const STEP_TIMEOUT_MS = 20_000;

/** A guest machine process (QEMU or hv-core) whose serial console is its stdin/stdout. */
export class Guest {
  /**
   * @param {string} command executable to spawn
   * @param {string[]} args its arguments
   * @param {{ verbose?: boolean }} [options] verbose: copy the console to stderr
   */
  constructor(command, args, { verbose = false } = {}) {
    this.startedAt = performance.now();
    this.output = "";
    this.cursor = 0; // output before this index has been matched already
    this.waiters = new Set();
    this.child = spawn(command, args, { stdio: ["pipe", "pipe", "pipe"] });
    this.exited = new Promise((resolve) => {
      this.child.on("exit", (code, signal) => {
        this.exitCode = code ?? `signal ${signal}`;
        this.wake();
        resolve(this.exitCode);
      });
    });
    const take = (chunk) => {
      const text = chunk.toString("latin1");
      this.output += text;
      if (verbose) process.stderr.write(text);
      this.wake();
    };
    this.child.stdout.on("data", take);
    this.child.stderr.on("data", take);
  }

  wake() {
    for (const w of this.waiters) w();
  }

  /** Waits until `pattern` appears after the last match; returns the match (RegExp) or text. */
  expect(pattern, what, timeoutMs = STEP_TIMEOUT_MS) {
    return new Promise((resolve, reject) => {
      const check = () => {
        const rest = this.output.slice(this.cursor);
        let index = -1;
        let match = null;
        if (typeof pattern === "string") {
          index = rest.indexOf(pattern);
          match = index >= 0 ? [pattern] : null;
        } else {
          match = rest.match(pattern);
          index = match ? match.index : -1;
        }
        if (match) {
          this.cursor += index + match[0].length;
          done();
          resolve(match);
        } else if (this.exitCode !== undefined) {
          done();
          reject(new Error(`${what}: QEMU exited (${this.exitCode}) first\n${this.tail()}`));
        }
      };
      const timer = setTimeout(() => {
        done();
        reject(new Error(`${what}: not seen within ${timeoutMs} ms\n${this.tail()}`));
      }, timeoutMs);
      const done = () => {
        clearTimeout(timer);
        this.waiters.delete(check);
      };
      this.waiters.add(check);
      check();
    });
  }

  /** Types a command line and waits for its echo, so the next expect only sees its output. */
  async type(line) {
    this.child.stdin.write(`${line}\r`);
    await this.expect(`${line}\r\n`, `echo of "${line}"`);
  }

  /** Runs a command and returns its output (everything up to the next prompt). */
  async run(line) {
    await this.type(line);
    const start = this.cursor;
    await this.expect(PROMPT, `prompt after "${line}"`);
    return this.output.slice(start, this.cursor - PROMPT.length);
  }

  async waitExit(what, timeoutMs = STEP_TIMEOUT_MS) {
    const timeout = new Promise((_, reject) =>
      setTimeout(() => reject(new Error(`${what}: QEMU still running after ${timeoutMs} ms`)), timeoutMs),
    );
    return Promise.race([this.exited, timeout]);
  }

  kill() {
    if (this.exitCode === undefined) this.child.kill("SIGKILL");
  }

  tail() {
    return `--- last console output ---\n${this.output.slice(-1500)}`;
  }
}
