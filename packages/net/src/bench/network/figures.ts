/** What `pnpm bench:network` reports, and the arithmetic behind it (no I/O: unit-tested). */

/** Which machine ran the guest: Skiff's agents and VMMs, or QEMU on a TAP (the reference). */
export type Machine = "skiff" | "qemu";

/** One scenario's figures; a figure the scenario does not measure is null. */
export interface NetworkFigure {
  name: string;
  machine: Machine;
  mbps: number | null;
  rttP50Ms: number | null;
  rttP99Ms: number | null;
  /**
   * Skiff, namespace↔guest only: instructions the guest retired per KiB carried. Its CPU's cost
   * per byte, which load does not change (the interpreted guest CPU is what limits throughput).
   */
  guestInstrPerKiB?: number;
  /** The host's 1-minute load average when the scenario ended: figures taken under load are ratios only. */
  load1: number;
  /** Migration only: the longest gap in a streaming connection's echo, and that hop's downtime. */
  maxStallMs?: number;
  downtimeMs?: number;
  /** Migration only: the longest gap in the same stream over seconds without a migration (the load's share). */
  baselineGapMs?: number;
  /** Migration only: connections that ended with an error (a reset or a timeout). */
  resets?: number;
  /** Migration only: every hop's stall beside its downtime. */
  hops?: HopStall[];
}

/** One live migration as a streaming connection saw it: its longest gap beside the hop's downtime. */
export interface HopStall {
  downtimeMs: number;
  stallMs: number;
  /**
   * The longest gap from the source's pause on (the pause, the move of the port, the guest's first
   * moments at the destination); a larger stallMs came before it, during the pre-copy.
   */
  fromPauseMs?: number;
  /**
   * The sender's retransmission timeouts meanwhile (TcpExt TCPTimeouts in its namespace): a
   * segment lost in the pause costs one, and Linux waits at least 200 ms for it.
   */
  rtos?: number;
  /**
   * Duplicates the receiver reported meanwhile (TcpExt TCPDSACKRecv): a retransmission whose
   * original had arrived after all, as when the RTO fired on a delay (under load), not a loss.
   */
  dsacks?: number;
}

/** One counter of /proc/net/netstat (a line of names, then one of values, per group); NaN if absent. */
export function netstatCounter(netstat: string, group: string, name: string): number {
  const lines = netstat.split("\n").filter((l) => l.startsWith(`${group}:`));
  const names = lines[0]?.split(/\s+/) ?? [];
  const values = lines[1]?.split(/\s+/) ?? [];
  const at = names.indexOf(name);
  return at > 0 && values[at] !== undefined ? Number(values[at]) : Number.NaN;
}

/** The hop whose stall exceeded its own downtime the most (the target is per hop). */
export function worstHop(hops: readonly HopStall[]): HopStall | undefined {
  let worst: HopStall | undefined;
  for (const h of hops) if (!worst || h.stallMs - h.downtimeMs > worst.stallMs - worst.downtimeMs) worst = h;
  return worst;
}

/** The q-quantile (0..1) of `xs` by the nearest-rank method; NaN for none. */
export function quantile(xs: readonly number[], q: number): number {
  if (xs.length === 0) return Number.NaN;
  const sorted = [...xs].sort((a, b) => a - b);
  return sorted[Math.min(sorted.length - 1, Math.max(0, Math.ceil(q * sorted.length) - 1))]!;
}

/** Round trips from ping's output (Linux iputils and BusyBox both print `time=<ms> ms`). */
export function pingRtts(output: string): number[] {
  return [...output.matchAll(/time=([\d.]+) ?ms/g)].map((m) => Number(m[1]));
}

export function rttFigures(rtts: readonly number[]): Pick<NetworkFigure, "rttP50Ms" | "rttP99Ms"> {
  if (rtts.length === 0) return { rttP50Ms: null, rttP99Ms: null };
  return { rttP50Ms: round3(quantile(rtts, 0.5)), rttP99Ms: round3(quantile(rtts, 0.99)) };
}

export function mbps(bytes: number, seconds: number): number {
  return Math.round((bytes * 8) / seconds / 1e4) / 100;
}

/**
 * A read timed inside the guest: `cat /proc/uptime` before and after `nc … | dd bs=64k …`, whose
 * `<full>+<partial> records out` counts what arrived (the guest's BusyBox dd prints no byte count
 * or rate). The guest's own clock, which follows the host's on both machines; /proc/uptime's 10 ms
 * steps are small against a transfer of seconds.
 */
export function parseTimedRead(text: string): { bytes: number; seconds: number } | undefined {
  const uptimes = [...text.matchAll(/^(\d+\.\d+) \d+\.\d+\r?$/gm)].map((m) => Number(m[1]));
  const records = /(\d+)\+(\d+) records out/.exec(text);
  if (uptimes.length < 2 || !records) return undefined;
  return { bytes: Number(records[1]) * 65536, seconds: uptimes[1]! - uptimes[0]! };
}

/** The longest gap between arrivals of a stream, from the times (ms) data arrived. */
export class StallMeter {
  private last: number | undefined;
  private longest = 0;

  arrived(atMs: number): void {
    if (this.last !== undefined) this.longest = Math.max(this.longest, atMs - this.last);
    this.last = atMs;
  }

  /** The longest gap since the last reset; the next one is measured from the last arrival. */
  takeLongest(): number {
    const longest = this.longest;
    this.longest = 0;
    return longest;
  }
}

/** Skiff's figure over QEMU's for each scenario both ran (mbps up is better, RTT down is better). */
export function ratios(figures: readonly NetworkFigure[]): string[] {
  const lines: string[] = [];
  for (const s of figures.filter((f) => f.machine === "skiff")) {
    const q = figures.find((f) => f.machine === "qemu" && f.name === s.name);
    if (!q) continue;
    const parts: string[] = [];
    if (s.mbps !== null && q.mbps) parts.push(`throughput ${(s.mbps / q.mbps).toFixed(2)}× QEMU's`);
    if (s.rttP50Ms !== null && q.rttP50Ms) parts.push(`RTT p50 ${(s.rttP50Ms / q.rttP50Ms).toFixed(2)}×`);
    if (s.rttP99Ms !== null && q.rttP99Ms) parts.push(`p99 ${(s.rttP99Ms / q.rttP99Ms).toFixed(2)}×`);
    if (parts.length > 0) lines.push(`${s.name}: ${parts.join(", ")}`);
  }
  return lines;
}

/** The first targets, checked against Skiff's figures: one line per target. */
export function targets(figures: readonly NetworkFigure[]): string[] {
  const skiff = (name: string) => figures.find((f) => f.machine === "skiff" && f.name === name);
  const check = (ok: boolean | undefined, what: string) =>
    `${ok === undefined ? "not measured" : ok ? "met" : "MISSED"}: ${what}`;
  const hostToGuest = skiff(SCENARIOS.hostToGuest);
  const across = skiff(SCENARIOS.twoNodes);
  const migration = skiff(SCENARIOS.migration);
  const atLeast = (f: NetworkFigure | undefined, min: number) =>
    f?.mbps === null || f === undefined ? undefined : f.mbps >= min;
  return [
    check(atLeast(hostToGuest, 100), `host→guest ≥ 100 Mbit/s (${hostToGuest?.mbps ?? "-"})`),
    check(atLeast(across, 100), `guest↔guest across nodes ≥ 100 Mbit/s (${across?.mbps ?? "-"})`),
    check(
      hostToGuest?.rttP50Ms === null || hostToGuest === undefined ? undefined : hostToGuest.rttP50Ms <= 1,
      `RTT p50 host→guest ≤ 1 ms (${hostToGuest?.rttP50Ms ?? "-"})`,
    ),
    check(
      migration?.maxStallMs === undefined || migration.downtimeMs === undefined
        ? undefined
        : migration.maxStallMs <= migration.downtimeMs + 100,
      `longest stall ≤ downtime + 100 ms (${migration?.maxStallMs ?? "-"} ≤ ${migration?.downtimeMs ?? "-"} + 100)`,
    ),
    check(
      migration?.resets === undefined ? undefined : migration.resets === 0,
      `0 resets (${migration?.resets ?? "-"})`,
    ),
  ];
}

/** Scenario names, shared by both machines so their figures pair up. */
export const SCENARIOS = {
  hostToGuest: "host→guest TCP",
  guestToHost: "guest→host TCP",
  oneNode: "guest↔guest TCP, one node",
  twoNodes: "guest↔guest TCP, two nodes",
  migration: "TCP stream across live migrations",
} as const;

function round3(x: number): number {
  return Math.round(x * 1000) / 1000;
}
