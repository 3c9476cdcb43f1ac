/** The faults of a run, drawn from its seed: the same seed gives the same schedule. */
import { rng } from "@skiff/devkit";

export const FAULT_KINDS = [
  "agent-kill",
  "vmm-kill",
  "api-kill",
  "redis-restart",
  "postgres-restart",
  "agent-freeze",
  "drain",
  "migration-target-kill",
  "stream-cut",
] as const;
export type FaultKind = (typeof FAULT_KINDS)[number];

export interface PlannedFault {
  /** Milliseconds after the chaos phase starts. */
  readonly atMs: number;
  readonly kind: FaultKind;
  /** A number in [0, 1) the fault uses to pick its victim, so victims follow the seed too. */
  readonly pick: number;
}

/**
 * One fault every `everyMs` on average (jittered), kinds in turn from a shuffled deck so that even
 * a short run meets each kind, and no two faults closer than half the mean gap.
 */
export function planFaults(seed: number, durationMs: number, everyMs: number): PlannedFault[] {
  const random = rng(seed);
  const out: PlannedFault[] = [];
  let deck: FaultKind[] = [];
  for (let t = everyMs * 0.5; t < durationMs - everyMs * 0.5; t += everyMs * (0.5 + random())) {
    if (deck.length === 0) deck = shuffle([...FAULT_KINDS], random);
    out.push({ atMs: Math.round(t), kind: deck.pop()!, pick: random() });
  }
  return out;
}

function shuffle<T>(xs: T[], random: () => number): T[] {
  for (let i = xs.length - 1; i > 0; i--) {
    const j = Math.floor(random() * (i + 1));
    [xs[i], xs[j]] = [xs[j]!, xs[i]!];
  }
  return xs;
}
