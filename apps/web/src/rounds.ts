import type { Migration } from "./generated/api.js";

/** One pre-copy round as the source agent reported it (the API keeps them as open records). */
export interface Round {
  round: number;
  phase: string;
  pages: number;
  bytes: number;
  ms: number;
  dirtyPagesPerSec: number;
  throttlePercent: number;
}

const num = (v: unknown): number => (typeof v === "number" && Number.isFinite(v) ? v : 0);

export function roundsOf(m: Pick<Migration, "rounds">): Round[] {
  return m.rounds.map((r, i) => ({
    round: typeof r.round === "number" ? r.round : i + 1,
    phase: typeof r.phase === "string" ? r.phase : "",
    pages: num(r.pages),
    bytes: num(r.bytes),
    ms: num(r.ms),
    dirtyPagesPerSec: num(r.dirtyPagesPerSec),
    throttlePercent: num(r.throttlePercent),
  }));
}

/** uPlot's columns: x = round number; pages sent, dirty pages per second, throttle percent. */
export function chartColumns(rounds: Round[]): [number[], number[], number[], number[]] {
  return [
    rounds.map((r) => r.round),
    rounds.map((r) => r.pages),
    rounds.map((r) => r.dirtyPagesPerSec),
    rounds.map((r) => r.throttlePercent),
  ];
}

const FINAL = new Set(["completed", "rolled-back", "failed"]);

export function finished(state: string): boolean {
  return FINAL.has(state);
}
