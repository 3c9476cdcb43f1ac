import { int, intIn, loadConfig, oneOf, port, str } from "@skiff/common";
import { tlsConfigSpec } from "@skiff/pki";

/** The API process: HTTP server, BullMQ workers and the health/balancer jobs (one binary). */
export const apiSpec = {
  databaseUrl: str("DATABASE_URL", "PostgreSQL connection URL"),
  redisUrl: str("REDIS_URL", "Redis URL for the BullMQ queues", "redis://127.0.0.1:6379"),
  host: str("SKIFF_API_HOST", "address the API listens on", "127.0.0.1"),
  port: port("SKIFF_API_PORT", "API port", 8080),
  agentToken: str(
    "SKIFF_AGENT_TOKEN",
    "shared secret node agents present to register and heartbeat (with mutual TLS, beside their node certificate)",
    "",
  ),
  agentPort: port(
    "SKIFF_API_AGENT_PORT",
    "port of the agents' mutual-TLS listener (on SKIFF_API_HOST): registration and heartbeats, with a node certificate; none with SKIFF_TLS=off",
    8443,
  ),
  repoRoot: str("SKIFF_REPO_ROOT", "where relative image paths are resolved (sent to agents as is)", "."),
  heartbeatIntervalMs: int("SKIFF_HEARTBEAT_INTERVAL_MS", "how often agents are told to heartbeat", 2000),
  nodeDeadAfterMs: int(
    "SKIFF_NODE_DEAD_AFTER_MS",
    "a node without heartbeat for this long is marked unreachable",
    10_000,
  ),
  placement: oneOf(["spread", "pack"] as const)(
    "SKIFF_PLACEMENT",
    "how placement weighs nodes: spread load, or pack to free whole nodes",
    "spread",
  ),
  migrationsPerNode: int(
    "SKIFF_MIGRATIONS_PER_NODE",
    "live migrations a node takes part in at once (as source or target); more wait queued",
    2,
  ),
  rateLimitPerMinute: int(
    "SKIFF_RATE_LIMIT_PER_MINUTE",
    "requests per tenant token per minute (a script or a web console stays well under it)",
    6000,
  ),
  operatorRateLimitPerMinute: int(
    "SKIFF_OPERATOR_RATE_LIMIT_PER_MINUTE",
    "requests per operator token per minute",
    60_000,
  ),
  anonymousRateLimitPerMinute: int(
    "SKIFF_ANONYMOUS_RATE_LIMIT_PER_MINUTE",
    "requests per client address per minute without a valid token (missing, made-up, revoked or expired)",
    1200,
  ),
  networkPool: str(
    "SKIFF_NETWORK_POOL",
    "the region's pool of private addresses, split into one network per project (cidr[:prefix], default /24s)",
    "10.200.0.0/16",
  ),
  networkMtu: intIn(576, 9000)(
    "SKIFF_NETWORK_MTU",
    "the VPS networks' MTU, given to guests by DHCP; the overlay adds 50 bytes, so the nodes' underlay must carry MTU + 50 (1450 fits a 1500-byte underlay; the local cluster's runs on loopback and uses 9000)",
    1450,
  ),
  gatewayOverlay: str(
    "SKIFF_GATEWAY_OVERLAY",
    "host:port of the region gateway's overlay endpoint, listed in the network map as node 'gateway' (empty: none)",
    "",
    "(none)",
  ),
  jobLockMs: int(
    "SKIFF_JOB_LOCK_MS",
    "how long a worker's lock on a job lasts between renewals: a job whose API process died is taken up again after 1 to 1.5 times this",
    20_000,
  ),
  jobBackoffMs: int(
    "SKIFF_JOB_BACKOFF_MS",
    "pause before a provisioning job's first retry (e.g. waiting for capacity), doubling each try; lifecycle jobs wait half, migrations twice",
    1000,
  ),
  workers: oneOf(["on", "off"] as const)(
    "SKIFF_WORKERS",
    "run the BullMQ workers in this process (off: HTTP only)",
    "on",
  ),
  /** Towards the agents the API holds the certificate `api` (SKIFF_TLS_DIR/api.pem). */
  ...tlsConfigSpec,
};

export type ApiConfig = ReturnType<typeof loadApiConfig>;

export function loadApiConfig(env: Record<string, string | undefined> = process.env) {
  return loadConfig(apiSpec, env);
}

/** What `migrate.js [--seed | --bootstrap]` reads (a separate spec: the migrate step needs no Redis). */
export const migrateSpec = {
  databaseUrl: str("DATABASE_URL", "PostgreSQL connection URL"),
  operatorToken: str(
    "SKIFF_OPERATOR_TOKEN",
    "with --seed: an operator token that works afterwards (created when missing); with --bootstrap: a region's first operator token, created only while no usable operator token exists (at least 24 characters)",
    "",
    "(none)",
  ),
  migrationsDir: str(
    "SKIFF_MIGRATIONS_DIR",
    "SQL migrations directory (default: prisma/migrations found above the program)",
    "",
    "(found)",
  ),
};

/**
 * The balancer job's environment (read by the API process that runs the workers), listed with the
 * API's in docs/configuration.md.
 */
export const balancerSpec = {
  intervalMs: int(
    "SKIFF_BALANCER_INTERVAL_MS",
    "how often the balancer round runs (node fencing and recovery, drains, balancing)",
    5000,
  ),
  fenceAfterMs: int(
    "SKIFF_NODE_FENCE_AFTER_MS",
    "grace after a node is unreachable before it is fenced and its VPSes are recovered elsewhere",
    30_000,
  ),
};

export type BalancerConfig = ReturnType<typeof loadBalancerConfig>;

export function loadBalancerConfig(env: Record<string, string | undefined> = process.env) {
  return loadConfig(balancerSpec, env);
}
