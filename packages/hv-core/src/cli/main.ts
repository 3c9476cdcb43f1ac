#!/usr/bin/env node
// `pnpm -s hv <command>`: the hv-core CLI. Each command lives in its own module, loaded on demand.
import { commands } from "./commands.js";

function usage(): string {
  const lines = Object.entries(commands).map(([n, c]) => `  ${n.padEnd(12)} ${c.summary}`);
  return `usage: hv <command> [options]\n\ncommands:\n${lines.join("\n")}\n`;
}

async function run(argv: string[]): Promise<number> {
  const [name, ...rest] = argv;
  if (!name || name === "--help" || name === "-h") {
    process.stdout.write(usage());
    return name ? 0 : 2;
  }
  const cmd = commands[name];
  if (!cmd) {
    process.stderr.write(`hv: unknown command "${name}"\n${usage()}`);
    return 2;
  }
  try {
    return await (await cmd.load()).main(rest);
  } catch (err) {
    // A mistyped option is the user's, not a crash: say which, and what the command does.
    const code = (err as { code?: unknown }).code;
    if (typeof code !== "string" || !code.startsWith("ERR_PARSE_ARGS_")) throw err;
    process.stderr.write(
      `hv ${name}: ${(err as Error).message.split(". ")[0]}\n  ${name.padEnd(12)} ${cmd.summary}\n`,
    );
    return 2;
  }
}

process.exitCode = await run(process.argv.slice(2));
