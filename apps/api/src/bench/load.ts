/**
 * A small HTTP load generator for the benchmarks: N keep-alive connections, each sending its next
 * request when the last answer has been read, for a fixed time. It runs in a child process, so the
 * server under test keeps its thread to itself and its process's CPU time is the server's alone.
 */

import { fork } from "node:child_process";
import { Agent, request } from "node:http";
import { performance } from "node:perf_hooks";

export interface LoadSpec {
  readonly url: string;
  readonly connections: number;
  readonly durationMs: number;
  /** Bearer tokens, taken round-robin per request ([] for none). */
  readonly tokens: readonly string[];
}

export interface LoadResult {
  readonly errors: number;
  readonly elapsedMs: number;
  /** Every answered request's latency, sorted (several runs' percentiles merge from these). */
  readonly latenciesMs: readonly number[];
}

async function generate(spec: LoadSpec): Promise<LoadResult> {
  const agent = new Agent({ keepAlive: true, maxSockets: spec.connections });
  const url = new URL(spec.url);
  const latencies: number[] = [];
  let errors = 0;
  let n = 0;
  const end = performance.now() + spec.durationMs;
  const once = () =>
    new Promise<void>((resolve) => {
      const token = spec.tokens.length ? spec.tokens[n++ % spec.tokens.length] : undefined;
      const t = performance.now();
      const req = request(
        url,
        { agent, headers: token ? { authorization: `Bearer ${token}` } : {} },
        (res) => {
          res.resume();
          res.on("end", () => {
            if (res.statusCode !== 200) errors++;
            latencies.push(performance.now() - t);
            resolve();
          });
        },
      );
      req.on("error", () => {
        errors++;
        resolve();
      });
      req.end();
    });
  const started = performance.now();
  await Promise.all(
    Array.from({ length: spec.connections }, async () => {
      while (performance.now() < end) await once();
    }),
  );
  const elapsed = performance.now() - started;
  agent.destroy();
  latencies.sort((a, b) => a - b);
  return { errors, elapsedMs: elapsed, latenciesMs: latencies };
}

/**
 * A load generator in a child process, forked once: its start (and tsx compiling it) stays out of
 * the server's CPU time, which the caller measures around each run.
 */
export function loader(): { run(spec: LoadSpec): Promise<LoadResult>; close(): void } {
  // The child runs this file again, through tsx as the bench itself runs (fork keeps execArgv).
  const child = fork(new URL(import.meta.url), ["child"]);
  return {
    run: (spec) =>
      new Promise((resolve, reject) => {
        child.once("error", reject);
        child.once("message", (r) => {
          child.off("error", reject); // one listener per run would pile up
          resolve(r as LoadResult);
        });
        child.send(spec);
      }),
    close: () => child.disconnect(),
  };
}

if (process.send && process.argv[2] === "child") {
  process.on("message", async (spec) => process.send!(await generate(spec as LoadSpec)));
}
