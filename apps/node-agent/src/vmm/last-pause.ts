/**
 * What the last migration pause of this VMM's guest cost beyond its data, measured when it arrived
 * here: the next migration out plans its last round with it (ConvergenceLimits.fixedDowntimeMs).
 * A VMM holds one VM, so this is that VM's last hop.
 */
let fixedMs: number | undefined;

export function rememberPauseFixedMs(ms: number | undefined): void {
  if (ms !== undefined) fixedMs = ms;
}

export function lastPauseFixedMs(): number | undefined {
  return fixedMs;
}
