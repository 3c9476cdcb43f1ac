import type { Logger } from "@skiff/common";
import type { AgentDirectory } from "../agents/agent-client.js";
import type { Db } from "../db/client.js";
import type { PlacementPolicy } from "../domain/placement.js";

/** What every worker needs. */
export interface WorkerContext {
  readonly db: Db;
  readonly agents: AgentDirectory;
  readonly policy: PlacementPolicy;
  readonly log: Logger;
}

/** Where a job stands in its retries, so the last attempt can clean up instead of throwing. */
export interface Attempt {
  readonly number: number;
  readonly max: number;
}

export const isLastAttempt = (a: Attempt) => a.number >= a.max;

/** Columns that release the VPS for the next action. */
export const CLEAR_ACTION = { action: null, actionId: null, actionStartedAt: null } as const;
