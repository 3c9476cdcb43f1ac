#!/usr/bin/env node
// `npm start`: a local Skiff cluster under .skiff/cluster — private Redis and PostgreSQL on loopback,
// database migrations, the API with its workers and three node agents. Data persists across
// restarts; Ctrl-C stops everything cleanly.
import { randomBytes } from "node:crypto";
import { existsSync, mkdirSync, readFileSync, writeFileSync } from "node:fs";
import { join, resolve } from "node:path";
import { clusterConfig } from "./config.js";
import { type ClusterPlan, planCluster } from "./plan.js";
import { runCluster } from "./run.js";

const repoRoot = resolve(import.meta.dirname, "..", "..", "..", "..");
const config = clusterConfig();
const stateDir = resolve(repoRoot, config.stateDir);
mkdirSync(stateDir, { recursive: true });

/** Secrets and ports chosen on the first start are kept so restarts find the same cluster. */
function loadOrCreateState(): { operatorToken: string; agentToken: string } {
  const file = join(stateDir, "secrets.json");
  if (existsSync(file)) return JSON.parse(readFileSync(file, "utf8"));
  const state = {
    operatorToken: `skiff_op_${randomBytes(18).toString("hex")}`,
    agentToken: `skiff_agent_${randomBytes(18).toString("hex")}`,
  };
  writeFileSync(file, JSON.stringify(state, null, 2), { mode: 0o600 });
  return state;
}

const secrets = loadOrCreateState();
const plan: ClusterPlan = await planCluster({
  repoRoot,
  stateDir,
  agents: config.agents,
  apiPort: config.apiPort,
  operatorToken: config.operatorToken ?? secrets.operatorToken,
  agentToken: secrets.agentToken,
});
process.exitCode = await runCluster(plan);
