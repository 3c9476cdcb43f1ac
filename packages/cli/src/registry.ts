import type { Command } from "./command.js";
import { balancerCommands } from "./commands/balancer.js";
import { catalogCommands } from "./commands/catalog.js";
import { eventCommands } from "./commands/events.js";
import { forwardCommands } from "./commands/forward.js";
import { loginCommands } from "./commands/login.js";
import { migrationCommands } from "./commands/migrations.js";
import { networkCommands } from "./commands/networks.js";
import { nodeCommands } from "./commands/nodes.js";
import { projectCommands } from "./commands/projects.js";
import { snapshotCommands } from "./commands/snapshots.js";
import { sshKeyCommands } from "./commands/ssh-keys.js";
import { tokenCommands } from "./commands/tokens.js";
import { vpsCommands } from "./commands/vps.js";
import { vpsChangeCommands } from "./commands/vps-changes.js";

/** Every command, in the order help lists them. */
export const COMMANDS: readonly Command[] = [
  ...vpsCommands,
  ...vpsChangeCommands,
  ...forwardCommands,
  ...snapshotCommands,
  ...sshKeyCommands,
  ...networkCommands,
  ...nodeCommands,
  ...migrationCommands,
  ...catalogCommands,
  ...eventCommands,
  ...tokenCommands,
  ...projectCommands,
  ...balancerCommands,
  ...loginCommands,
];

/** `skiff migrate` is the short form people reach for first; it is `skiff vps migrate`. */
const SHORTHANDS: Record<string, readonly string[]> = {
  migrate: ["vps", "migrate"],
  console: ["vps", "console"],
};

export interface Lookup {
  readonly command?: Command;
  /** The words used to name it (removed from argv before parsing the rest). */
  readonly words: readonly string[];
  /** A known group (`vps`) without or with an unknown subcommand. */
  readonly group?: string;
}

export function groups(): string[] {
  return [...new Set(COMMANDS.map((c) => c.path[0]!))];
}

/** Finds the command named by the leading words (two words win over one: `plans list` > `plans`). */
export function lookup(words: readonly string[]): Lookup {
  const [w0, w1] = words;
  if (w0 === undefined) return { words: [] };
  const short = SHORTHANDS[w0];
  if (short) return { command: find(short), words: [w0] };
  if (w1 !== undefined) {
    const two = find([w0, w1]);
    if (two) return { command: two, words: [w0, w1] };
  }
  const one = find([w0]);
  if (one) return { command: one, words: [w0] };
  return groups().includes(w0) ? { words: [w0], group: w0 } : { words: [] };
}

function find(path: readonly string[]): Command | undefined {
  return COMMANDS.find((c) => c.path.length === path.length && c.path.every((w, i) => w === path[i]));
}

/** Edit distance (insert, delete, substitute, swap two neighbours), for "did you mean". */
export function editDistance(a: string, b: string): number {
  const d = Array.from({ length: a.length + 1 }, (_, i) =>
    Array.from({ length: b.length + 1 }, (_, j) => (i === 0 ? j : j === 0 ? i : 0)),
  );
  for (let i = 1; i <= a.length; i++) {
    for (let j = 1; j <= b.length; j++) {
      const row = d[i]!;
      row[j] = Math.min(
        d[i - 1]![j]! + 1,
        row[j - 1]! + 1,
        d[i - 1]![j - 1]! + (a[i - 1] === b[j - 1] ? 0 : 1),
      );
      if (i > 1 && j > 1 && a[i - 1] === b[j - 2] && a[i - 2] === b[j - 1]) {
        row[j] = Math.min(row[j]!, d[i - 2]![j - 2]! + 1);
      }
    }
  }
  return d[a.length]![b.length]!;
}

/** "; did you mean 'vps create'?" for a mistyped command (`vps creat`), or "" when nothing is close. */
export function didYouMean(typed: string): string {
  const names = [
    ...new Set([...COMMANDS.filter((c) => !c.hidden).map((c) => c.path.join(" ")), ...groups()]),
  ];
  const words = typed.split(" ").length;
  let best: { name: string; d: number } | undefined;
  for (const name of names.filter((n) => n.split(" ").length === words)) {
    const d = editDistance(typed, name);
    if (!best || d < best.d) best = { name, d };
  }
  // Two edits (one for short words) still read as a typo; more is another word.
  return best && best.d <= (typed.length <= 4 ? 1 : 2) ? `; did you mean '${best.name}'?` : "";
}
