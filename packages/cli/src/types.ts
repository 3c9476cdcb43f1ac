/**
 * The API's objects as the CLI reads them: the types generated from the API's OpenAPI document
 * (generated/api.ts), named as the CLI uses them. --json prints whatever the API sent, including
 * fields added later.
 */
import type * as api from "./generated/api.js";

export type Vps = api.Vps;
export type Snapshot = api.Snapshot;
export type SshKey = api.SshKey;
export type Network = api.Network;
export type VpsState = api.VpsState;
export type NodeInfo = api.Node;
export type Plan = api.Plan;
export type Image = api.Image;
export type SkiffEvent = api.Event;
export type MigrationState = api.MigrationState;
/** GET /v1/whoami: the token a request carries. */
export type WhoAmI = api.WhoAmI;

export type Token = api.Token & {
  /** Only in the answer to a create: the secret, shown once. */
  token?: string;
};

/**
 * One pre-copy round as the source agent reported it (proto MigrationRound). The API's contract
 * keeps rounds as the agent's records (open objects), so the CLI names the fields it shows.
 */
export interface MigrationRound {
  round: number;
  phase: string;
  pages: number;
  zeroPages: number;
  blocks: number;
  bytes: number;
  ms: number;
  dirtyPagesPerSec: number;
  throttlePercent: number;
  bandwidthBytesPerSec?: number;
}

/** A live migration: GET /v1/migrations/:id. */
export type Migration = Omit<api.Migration, "rounds"> & { rounds: MigrationRound[] };

/** GET/PUT /v1/balancer. */
export type BalancerView = api.Balancer;
/** POST /v1/balancer/plan: the dry run. */
export type DryRun = api.BalancerPlan;
export type BalancerPlan = DryRun["plan"];
export type BalancerMove = BalancerPlan["moves"][number];
export type BalancerStuck = DryRun["drain"]["waiting"][number];
/** GET /v1/nodes/:id/drain. */
export type DrainProgress = api.DrainProgress;
