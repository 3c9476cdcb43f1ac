/**
 * The clock both ends of a migration stamp the pause with: wall time with sub-millisecond
 * resolution, so stamps taken in two processes on one host compare directly.
 */
export function wallMs(): number {
  return performance.timeOrigin + performance.now();
}
