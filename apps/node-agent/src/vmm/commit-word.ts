/**
 * An incoming migration's commit decision, in one word shared by the destination VMM's main thread
 * and its vCPU worker. The guest must run the moment two things are true: the main thread has
 * verified the stream (and may commit), and the vCPU has restored the state. With messages, each
 * side waited for the other's in the pause (restored -> main thread -> commit point -> go ->
 * vCPU), two wake-ups that each waited for a core; with this word the vCPU itself makes the commit
 * point as soon as both are true.
 *
 *   open ──allow (main: verified)──▶ allowed ──take (vCPU: restored)──▶ committing
 *   committing ──(vCPU: the record renamed into place: THE COMMIT POINT)──▶ committed
 *   committing ──(vCPU: the rename failed)──▶ failed
 *   open | allowed ──refuse (main: aborted, discarded)──▶ refused
 *   open | allowed ──fail (vCPU: the state does not restore)──▶ failed
 *
 * Each step is one compare-and-swap, so an abort racing the commit has exactly one winner, and
 * the main thread's answer to "committed?" is always the truth.
 */
import { COMMIT } from "./vcpu-messages.js";

export const COMMIT_STATES = ["open", "allowed", "committing", "committed", "refused", "failed"] as const;
export type CommitState = (typeof COMMIT_STATES)[number];

const TRANSITIONS: Readonly<Record<CommitState, readonly CommitState[]>> = {
  open: ["allowed", "refused", "failed"],
  allowed: ["committing", "refused", "failed"],
  committing: ["committed", "failed"],
  committed: [],
  refused: [],
  failed: [],
};

/** How long refuse() waits out a commit in progress: one rename, far under this. */
const COMMITTING_WAIT_MS = 1000;

export class CommitWord {
  constructor(private readonly ctl: Int32Array) {}

  get state(): CommitState {
    return COMMIT_STATES[Atomics.load(this.ctl, COMMIT)]!;
  }

  /** Moves from `from` to `to` if the word still holds `from`; false if another step came first. */
  private move(from: CommitState, to: CommitState): boolean {
    if (!TRANSITIONS[from].includes(to)) throw new Error(`commit word: no step ${from} -> ${to}`);
    const ok =
      Atomics.compareExchange(this.ctl, COMMIT, COMMIT_STATES.indexOf(from), COMMIT_STATES.indexOf(to)) ===
      COMMIT_STATES.indexOf(from);
    if (ok) Atomics.notify(this.ctl, COMMIT);
    return ok;
  }

  /** Main thread, the stream verified: the vCPU may commit. False when already refused or failed. */
  allow(): boolean {
    return this.move("open", "allowed");
  }

  /**
   * Main thread: no commit may follow. Returns what won: "refused" (this call, or an earlier one),
   * "failed" (never committed either), or "committed" (too late: the VM is this node's).
   */
  refuse(): "refused" | "failed" | "committed" {
    for (;;) {
      const s = this.state;
      if (s === "committed" || s === "failed" || s === "refused") return s;
      if (s === "committing") {
        Atomics.wait(this.ctl, COMMIT, COMMIT_STATES.indexOf("committing"), COMMITTING_WAIT_MS);
        continue;
      }
      if (this.move(s, "refused")) return "refused";
    }
  }

  /** vCPU, restored: takes the commit if the main thread allowed it (and nobody refused since). */
  take(): boolean {
    return this.move("allowed", "committing");
  }

  /** vCPU, after take(): the commit point was made (the record is in place), or could not be. */
  settle(committed: boolean): void {
    this.move("committing", committed ? "committed" : "failed");
  }

  /** vCPU: the state does not restore; no commit can follow. */
  fail(): void {
    while (!this.move("open", "failed") && !this.move("allowed", "failed")) {
      if (this.state !== "open" && this.state !== "allowed") return;
    }
  }
}
