import { spawn } from "node:child_process";
import { randomUUID } from "node:crypto";
import { existsSync, mkdirSync, writeFileSync } from "node:fs";
import { createLogger } from "@skiff/common";
import { makeTempDir } from "@skiff/devkit";
import { afterAll, describe, expect, it } from "vitest";
import { vmPaths } from "../vm/layout.js";
import { isAlive } from "../vmm/process.js";
import { VmRegistry } from "./registry.js";

const tmp = makeTempDir("skiff-registry-");
afterAll(() => tmp.remove());

describe("VmRegistry.load", () => {
  it("ends the VMM still running in a VM dir without a record before removing the dir", async () => {
    const paths = vmPaths(tmp.path, randomUUID());
    mkdirSync(paths.dir, { recursive: true });
    // Stands in for a migration's incoming shell whose agent was killed: a process whose command
    // line is a VMM's for this dir, its pid written where a VMM writes it, and no record.
    const orphan = spawn(
      process.execPath,
      ["-e", "setInterval(() => {}, 1000)", "/x/vmm/main.js", paths.dir],
      {
        stdio: "ignore",
      },
    );
    const exited = new Promise((resolve) => orphan.once("exit", resolve));
    writeFileSync(paths.pid, String(orphan.pid));
    const registry = new VmRegistry({
      dataDir: tmp.path,
      storage: undefined,
      nodeName: "test",
      repoRoot: tmp.path,
      log: createLogger("registry-test", "silent"),
      vmmNice: 0,
      vmmOverheadMib: 0,
      stopTimeoutMs: 1000,
    });
    await registry.load();
    await exited;
    expect(isAlive(orphan.pid!)).toBe(false);
    expect(existsSync(paths.dir)).toBe(false);
  });
});
