#!/usr/bin/env node
// `skiff`: the command-line client of the Skiff API. See docs/cli.md.
import { EXIT, run } from "./cli.js";

// A closed pipe (`skiff events -f | head`) is a normal way to stop reading, not an error.
process.stdout.on("error", (err: NodeJS.ErrnoException) => {
  if (err.code === "EPIPE") process.exit(0);
  throw err;
});

const code = await run(process.argv.slice(2), {
  out: (s) => process.stdout.write(s),
  err: (s) => process.stderr.write(s),
  env: process.env,
  cwd: process.cwd(),
  stdin: process.stdin,
  stdout: process.stdout,
});
// Ctrl-C during a --wait may leave a poll in flight: do not wait for its answer to exit.
if (code === EXIT.interrupted) process.exit(code);
process.exitCode = code;
