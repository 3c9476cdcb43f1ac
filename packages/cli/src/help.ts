import type { Command } from "./command.js";
import { DEFAULT_API_URL } from "./config.js";
import { COMMANDS } from "./registry.js";

const GLOBAL_HELP = [
  "Global options (anywhere on the line):",
  "  --json          print the API's JSON answer as is (for scripts)",
  "  --token TOKEN   API token (default: $SKIFF_TOKEN)",
  `  --api URL       API address (default: $SKIFF_API_URL, the local cluster, or ${DEFAULT_API_URL})`,
  "  -h, --help      help for a command",
].join("\n");

function commandLine(c: Command): string {
  return `skiff ${c.path.join(" ")}${c.usage ? ` ${c.usage}` : ""}`;
}

/** `skiff help` / `skiff --help`, or the commands of one group (`skiff vps --help`). */
export function generalHelp(group?: string): string {
  const shown = COMMANDS.filter((c) => !c.hidden && (group === undefined || c.path[0] === group));
  const w = Math.max(...shown.map((c) => c.path.join(" ").length));
  const lines = shown.map((c) => `  ${c.path.join(" ").padEnd(w)}  ${c.summary}`);
  const head =
    group === undefined
      ? "skiff: the Skiff command-line client (REST API; docs/cli.md)\n\nUsage: skiff <command> [arguments] [options]\n"
      : `Usage: skiff ${group} <command> [arguments] [options]\n`;
  const tail =
    group === undefined
      ? "\n`skiff <command> --help` explains one command. `skiff migrate` and `skiff console` are\nshort for `skiff vps migrate` and `skiff vps console`.\n"
      : "";
  return `${head}\nCommands:\n${lines.join("\n")}\n\n${GLOBAL_HELP}\n${tail}`;
}

export function commandHelp(c: Command): string {
  const details = c.details ? `\n${c.details}\n` : "";
  return `Usage: ${commandLine(c)}\n\n${c.summary}\n${details}\n${GLOBAL_HELP}\n`;
}

export function usageLine(c: Command): string {
  return `usage: ${commandLine(c)}`;
}
