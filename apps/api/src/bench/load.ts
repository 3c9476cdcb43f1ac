/**
 * The benchmarks' HTTP load: N keep-alive connections, each sending its next request when the last
 * answer has been read, for a fixed time. It runs in a child process, so the server under test
 * keeps its thread to itself and its process's CPU time is the server's alone.
 */

import { fork } from "node:child_process";
import { performance } from "node:perf_hooks";
import autocannon from "autocannon";

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

/**
 * autocannon (the tool the list targets were set with): one request per connection at a time, a
 * pre-built request and its own HTTP parser, so the generator takes less of the shared cores than
 * Node's http client did and the server's latency is less the generator's.
 */
async function generate(spec: LoadSpec): Promise<LoadResult> {
  const latencies: number[] = [];
  let errors = 0;
  let n = 0;
  const started = performance.now();
  let finished: (err: unknown) => void = () => undefined;
  const done = new Promise<void>((resolve, reject) => {
    finished = (err) => (err ? reject(err) : resolve());
  });
  const instance = autocannon(
    {
      url: spec.url,
      connections: spec.connections,
      duration: spec.durationMs / 1000,
      requests: [
        {
          setupRequest: (req) => {
            const token = spec.tokens.length ? spec.tokens[n++ % spec.tokens.length] : undefined;
            return token ? { ...req, headers: { ...req.headers, authorization: `Bearer ${token}` } } : req;
          },
        },
      ],
    },
    (err) => finished(err),
  );
  instance.on("response", (_client, statusCode, _bytes, responseTime) => {
    if (statusCode !== 200) errors++;
    latencies.push(responseTime);
  });
  instance.on("reqError", () => errors++);
  await done;
  const elapsed = performance.now() - started;
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
