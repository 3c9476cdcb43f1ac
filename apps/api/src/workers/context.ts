import type { Logger } from "@skiff/common";
import type { AgentDirectory } from "../agents/agent-client.js";
import type { Db } from "../db/client.js";
import type { PlacementPolicy } from "../domain/placement.js";
import type { NetworkPool } from "../network/ipam.js";
import type { NetworkMapPublisher } from "../network/publisher.js";

/** What every worker needs. */
export interface WorkerContext {
  readonly db: Db;
  readonly agents: AgentDirectory;
  readonly policy: PlacementPolicy;
  readonly log: Logger;
  /** Where project networks come from (default: DEFAULT_NETWORK_POOL). */
  readonly networkPool?: NetworkPool;
  /** Pushes the network map to the agents after a change; none in tests that need no agents. */
  readonly networkMap?: NetworkMapPublisher;
}

/** Where a job stands in its retries, so the last attempt can clean up instead of throwing. */
export interface Attempt {
  readonly number: number;
  readonly max: number;
}

export const isLastAttempt = (a: Attempt) => a.number >= a.max;

/** Columns that release the VPS for the next action. */
export const CLEAR_ACTION = { action: null, actionId: null, actionStartedAt: null } as const;
