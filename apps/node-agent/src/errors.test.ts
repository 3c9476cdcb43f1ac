import { readdirSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { status } from "@grpc/grpc-js";
import { SkiffError } from "@skiff/common";
import { MigrationErrorCode } from "@skiff/migration";
import { describe, expect, it } from "vitest";
import { AGENT_ERRORS, agentError, grpcStatusNameOf, isAgentErrorCode } from "./errors.js";
import { ERROR_CODE_KEY, toServiceError } from "./grpc/errors.js";

/** The shipped sources of the agent (tests and test helpers left out). */
function shippedSources(dir: string): string[] {
  return readdirSync(dir, { withFileTypes: true }).flatMap((e) => {
    const p = join(dir, e.name);
    if (e.isDirectory()) return e.name === "test-support" || e.name === "testing" ? [] : shippedSources(p);
    return e.name.endsWith(".ts") && !e.name.endsWith(".test.ts") ? [p] : [];
  });
}

/** Every error code literal the sources raise, send or compare against. */
function codesUsed(): Map<string, string> {
  const found = new Map<string, string>();
  const patterns = [
    /agentError\(\s*"([A-Z][A-Z0-9_]+)"/g,
    /new SkiffError\(\s*"([A-Z][A-Z0-9_]+)"/g,
    /\bcode: "([A-Z][A-Z0-9_]+)"/g,
    /\.code === "([A-Z][A-Z0-9_]+)"/g,
  ];
  for (const file of shippedSources(import.meta.dirname)) {
    const text = readFileSync(file, "utf8");
    for (const re of patterns) {
      for (const m of text.matchAll(re)) {
        // errno names (ENOENT, EPERM) are the OS's codes on Node's errors, not the agent's.
        if (!/^E[A-Z]+$/.test(m[1] as string)) found.set(m[1] as string, file);
      }
    }
  }
  return found;
}

describe("the agent's error catalogue", () => {
  it("gives every code a real gRPC status and a meaning", () => {
    for (const [code, e] of Object.entries(AGENT_ERRORS)) {
      expect(typeof status[e.grpc], code).toBe("number");
      expect(e.meaning.length, code).toBeGreaterThan(5);
    }
  });

  it("holds every code the agent's sources use, and the migration stream's codes", () => {
    const used = codesUsed();
    // Codes the control plane answers with (control-plane/ reads them, never raises them).
    used.delete("NODE_NOT_FOUND");
    expect(used.size).toBeGreaterThan(30);
    const missing = [...used].filter(([code]) => !isAgentErrorCode(code)).map(([c, f]) => `${c} (${f})`);
    expect(missing).toEqual([]);
    for (const code of Object.values(MigrationErrorCode)) expect(isAgentErrorCode(code), code).toBe(true);
  });

  it("maps codes to the statuses callers act on", () => {
    const grpc = (code: string) => toServiceError(new SkiffError(code, "m")).code;
    expect(grpc("DISK_NOT_FOUND")).toBe(status.NOT_FOUND);
    expect(grpc("VM_NOT_FOUND")).toBe(status.NOT_FOUND);
    expect(grpc("VM_EXISTS")).toBe(status.ALREADY_EXISTS);
    expect(grpc("STALE_EPOCH")).toBe(status.FAILED_PRECONDITION);
    expect(grpc("VM_CREATE_FAILED")).toBe(status.FAILED_PRECONDITION);
    expect(grpc("INVALID_ARGUMENT")).toBe(status.INVALID_ARGUMENT);
    expect(grpc("UNAUTHENTICATED")).toBe(status.UNAUTHENTICATED);
    expect(grpc("VMM_GONE")).toBe(status.UNAVAILABLE);
    expect(grpc("VMM_TIMEOUT")).toBe(status.DEADLINE_EXCEEDED);
    expect(grpc("SOMETHING_FROM_A_LIBRARY")).toBe(status.INTERNAL);
    expect(grpcStatusNameOf("SOMETHING_FROM_A_LIBRARY")).toBe("INTERNAL");
  });

  it("puts the code first in the message and in the trailing metadata", () => {
    const e = toServiceError(agentError("STALE_EPOCH", "vm v1 is at epoch 3"));
    expect(e.details).toBe("STALE_EPOCH: vm v1 is at epoch 3");
    expect(e.metadata?.get(ERROR_CODE_KEY)).toEqual(["STALE_EPOCH"]);
    const plain = toServiceError(new Error("boom"));
    expect(plain.code).toBe(status.INTERNAL);
    expect(plain.details).toBe("INTERNAL: boom");
  });
});
