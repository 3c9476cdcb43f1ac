#!/usr/bin/env node
// `npm start`: a local Skiff cluster under .skiff/cluster (SKIFF_STATE_DIR) — private Redis and
// PostgreSQL on loopback, database migrations, the region's gateway in a network namespace
// (SKIFF_NETNS), the API with its workers and three node agents.
// Data persists across restarts; Ctrl-C stops everything, in order.
import { randomBytes } from "node:crypto";
import { existsSync, mkdirSync, readFileSync, writeFileSync } from "node:fs";
import { join, resolve } from "node:path";
import { errorMessage } from "@skiff/common";
import { clusterConfig } from "./config.js";
import { planCluster } from "./plan.js";
import { runCluster } from "./run.js";

const repoRoot = resolve(import.meta.dirname, "..", "..", "..", "..");

/** Secrets chosen on the first start are kept so restarts find the same cluster. */
function loadOrCreateSecrets(stateDir: string): { operatorToken: string; agentToken: string } {
  const file = join(stateDir, "secrets.json");
  if (existsSync(file)) return JSON.parse(readFileSync(file, "utf8"));
  const state = {
    operatorToken: `skiff_op_${randomBytes(18).toString("hex")}`,
    agentToken: `skiff_agent_${randomBytes(18).toString("hex")}`,
  };
  writeFileSync(file, JSON.stringify(state, null, 2), { mode: 0o600 });
  return state;
}

async function main(): Promise<number> {
  const config = clusterConfig();
  const stateDir = resolve(repoRoot, config.stateDir);
  mkdirSync(stateDir, { recursive: true });
  const secrets = loadOrCreateSecrets(stateDir);
  const plan = await planCluster({
    repoRoot,
    stateDir,
    agents: config.agents,
    apiPort: config.apiPort,
    agentMemory: config.agentMemory,
    operatorToken: config.operatorToken ?? secrets.operatorToken,
    agentToken: secrets.agentToken,
    netns: config.netns,
  });
  return runCluster(plan);
}

main().then(
  (code) => {
    process.exitCode = code;
  },
  (err: unknown) => {
    // Configuration and port problems: one line that says what to change, no stack.
    console.error(`[cluster] ERROR: ${errorMessage(err)}`);
    process.exitCode = 1;
  },
);
