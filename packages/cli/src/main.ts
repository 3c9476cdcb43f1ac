#!/usr/bin/env node
// `skiff`: the command-line client of the Skiff API. See docs/cli.md.
import { run } from "./cli.js";

// A closed pipe (`skiff events -f | head`) is a normal way to stop reading, not an error.
process.stdout.on("error", (err: NodeJS.ErrnoException) => {
  if (err.code === "EPIPE") process.exit(0);
  throw err;
});

process.exitCode = await run(process.argv.slice(2), {
  out: (s) => process.stdout.write(s),
  err: (s) => process.stderr.write(s),
  env: process.env,
  cwd: process.cwd(),
  stdin: process.stdin,
  stdout: process.stdout,
});
