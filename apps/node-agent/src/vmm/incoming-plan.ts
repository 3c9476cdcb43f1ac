/**
 * incoming.json: what the destination agent tells a VMM started with --incoming. Apart from
 * migrate-in.ts so that reading it does not load the migration stream's code.
 */
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { agentError } from "../errors.js";
import type { IncomingPlan } from "./migrate-protocol.js";

export function incomingPlanPath(dir: string): string {
  return join(dir, "incoming.json");
}

export function readIncomingPlan(dir: string): IncomingPlan {
  const plan = JSON.parse(readFileSync(incomingPlanPath(dir), "utf8")) as IncomingPlan;
  if (plan.version !== 1 || typeof plan.token !== "string" || typeof plan.record?.vmId !== "string") {
    throw agentError("MIGRATION_PLAN_CORRUPT", `${incomingPlanPath(dir)} is not an incoming plan`);
  }
  return plan;
}
