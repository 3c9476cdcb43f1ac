/**
 * A watchdog on the sender's link. A dead peer normally shows as an error on the stream, but not
 * always: a TCP connection cut in the middle of a TLS record was seen (rarely) to leave grpc-js
 * waiting with no error at all, and the migration then hung until its overall timeout (minutes).
 * Whatever the cause, a stream on which the sender waits and nothing moves for `stallMs` is
 * broken: the guard closes it, so the sender rolls back (or reports in-doubt after the commit).
 */
import { MigrationErrorCode, migrationError } from "./format.js";
import type { SenderLink } from "./stream-ends.js";

/** No record accepted and no reply received for this long while the sender waits: stalled. */
export const STALL_TIMEOUT_MS = 15_000;

export interface GuardedLink extends SenderLink {
  /** Stops the watchdog (the migration ended). */
  dispose(): void;
}

export function guardStalls(link: SenderLink, stallMs = STALL_TIMEOUT_MS): GuardedLink {
  let waiting = 0;
  let lastMove = performance.now();
  const track = async <T>(op: () => Promise<T>): Promise<T> => {
    // Time spent working locally between waits (scanning, compressing, pacing) is not a stall.
    if (waiting === 0) lastMove = performance.now();
    waiting++;
    try {
      return await op();
    } finally {
      waiting--;
      lastMove = performance.now();
    }
  };
  const timer = setInterval(
    () => {
      if (waiting > 0 && performance.now() - lastMove > stallMs) {
        link.close(
          migrationError(
            MigrationErrorCode.STREAM_STALLED,
            `the migration stream made no progress for ${stallMs} ms`,
          ),
        );
      }
    },
    Math.max(20, Math.floor(stallMs / 4)),
  );
  timer.unref();
  return {
    send: (...records) => track(() => link.send(...records)),
    reply: () => track(() => link.reply()),
    end: () => link.end(),
    close: (reason) => link.close(reason),
    dispose: () => clearInterval(timer),
  };
}
