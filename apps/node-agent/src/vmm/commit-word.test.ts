import { Worker } from "node:worker_threads";
import { describe, expect, it } from "vitest";
import { COMMIT_STATES, CommitWord } from "./commit-word.js";
import { COMMIT, CONTROL_WORDS } from "./vcpu-messages.js";

const word = () => new CommitWord(new Int32Array(new SharedArrayBuffer(CONTROL_WORDS * 4)));

describe("an incoming migration's commit word", () => {
  it("commits only what the main thread allowed and the vCPU took", () => {
    const w = word();
    expect(w.take()).toBe(false); // restored, not yet verified: wait
    expect(w.allow()).toBe(true);
    expect(w.take()).toBe(true);
    w.settle(true);
    expect(w.state).toBe("committed");
    expect(w.refuse()).toBe("committed"); // an abort after the commit learns the truth
  });

  it("lets a refusal win before the vCPU takes the commit, also once allowed", () => {
    const early = word();
    expect(early.refuse()).toBe("refused");
    expect(early.allow()).toBe(false);
    expect(early.take()).toBe(false);

    const late = word();
    expect(late.allow()).toBe(true);
    expect(late.refuse()).toBe("refused");
    expect(late.take()).toBe(false);
    expect(late.state).toBe("refused");
  });

  it("never commits a state that did not restore, or a record that was not put in place", () => {
    const bad = word();
    bad.fail();
    expect(bad.allow()).toBe(false);
    expect(bad.refuse()).toBe("failed");

    const allowed = word();
    allowed.allow();
    allowed.fail();
    expect(allowed.take()).toBe(false);

    const rename = word();
    rename.allow();
    rename.take();
    rename.settle(false);
    expect(rename.state).toBe("failed");
    expect(rename.refuse()).toBe("failed");
  });

  it("makes a refusal wait out a commit in progress on another thread, and report it", async () => {
    const ctl = new Int32Array(new SharedArrayBuffer(CONTROL_WORDS * 4));
    const w = new CommitWord(ctl);
    w.allow();
    expect(w.take()).toBe(true); // "the vCPU" is renaming the record
    // Another thread settles the commit 50 ms later, while this one is blocked in refuse().
    const settler = new Worker(
      `const { workerData } = require("node:worker_threads");
       const ctl = new Int32Array(workerData);
       Atomics.wait(ctl, 3, 0, 50);
       Atomics.store(ctl, ${COMMIT}, ${COMMIT_STATES.indexOf("committed")});
       Atomics.notify(ctl, ${COMMIT});`,
      { eval: true, workerData: ctl.buffer },
    );
    expect(w.refuse()).toBe("committed");
    await new Promise((r) => settler.once("exit", r));
  });
});
