import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { createLogger } from "@skiff/common";
import { afterAll, describe, expect, it } from "vitest";
import { pathsInDir } from "../vm/layout.js";
import { spawnVmm } from "./spawn.js";

const tmp = mkdtempSync(join(tmpdir(), "skiff-spawn-"));
afterAll(() => rmSync(tmp, { recursive: true, force: true }));

describe("spawning a VMM", () => {
  it("fails with a code, not a crash of the agent, when its dir goes away under it", async () => {
    // Its log can be opened, then the dir it runs in is gone (a discarded migration shell).
    const paths = { ...pathsInDir(tmp), dir: join(tmp, "gone") };
    const started = spawnVmm(paths, {
      restore: false,
      nice: 5,
      bootTimeoutMs: 5000,
      log: createLogger("spawn-test", "silent"),
      on: {},
    });
    await expect(started).rejects.toMatchObject({ code: "VMM_SPAWN_FAILED" });
    // The spawn's error event comes after: this process must still be here to see the next tick.
    await new Promise((r) => setTimeout(r, 200));
  });
});
