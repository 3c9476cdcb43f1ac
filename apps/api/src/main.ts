#!/usr/bin/env node
// The API process: HTTP server plus (unless SKIFF_WORKERS=off) the BullMQ workers and the
// repeatable maintenance jobs. SIGTERM/SIGINT drain in-flight requests and jobs, then exit.
import { resolve } from "node:path";
import { createLogger, errorMessage } from "@skiff/common";
import { API_IDENTITY, loadTls, tlsSetting, warnIfPlaintext } from "@skiff/pki";
import { Redis } from "ioredis";
import { GrpcAgentDirectory } from "./agents/grpc-agent.js";
import { buildApp } from "./app.js";
import { NodeRevocations } from "./auth/node-revocations.js";
import { loadApiConfig } from "./config.js";
import { createDb } from "./db/client.js";
import { listVersionReader } from "./db/list-versions.js";
import { DEFAULT_POLICY } from "./domain/placement.js";
import { listenForAgents } from "./http/agent-listener.js";
import { parseNetworkPool } from "./network/ipam.js";
import { parseGatewayOverlay } from "./network/map.js";
import { NetworkMapPublisher } from "./network/publisher.js";
import { BullQueues } from "./queues.js";
import { startWorkers } from "./workers/index.js";

const log = createLogger("api");

async function main(): Promise<void> {
  const config = loadApiConfig();
  const db = createDb(config.databaseUrl);
  const listVersions = listVersionReader(config.databaseUrl);
  const redis = new Redis(config.redisUrl, { maxRetriesPerRequest: 3, lazyConnect: false });
  redis.on("error", (err) => log.warn({ err: err.message }, "redis"));
  const queues = new BullQueues({ redisUrl: config.redisUrl, backoffMs: config.jobBackoffMs });
  const tls = tlsSetting(config, API_IDENTITY, resolve(config.repoRoot));
  warnIfPlaintext(log, tls);
  const material = tls.mode === "on" ? loadTls(tls.files, API_IDENTITY) : undefined;
  const revocations = material ? new NodeRevocations(db, (name) => agents.forget(name)) : undefined;
  const agents = new GrpcAgentDirectory(
    config.agentToken,
    material ? { material, log, ...(revocations ? { revocations } : {}) } : undefined,
  );
  await revocations?.refresh();
  // Another replica's revocation reaches this one's gRPC channels within this period (requests
  // from agents read the table each time).
  const revocationRefresh = setInterval(() => {
    revocations?.refresh().catch((err: unknown) => log.warn({ err: errorMessage(err) }, "revocations"));
  }, 5000);
  revocationRefresh.unref();
  const policy = { ...DEFAULT_POLICY, mode: config.placement };
  const networkPool = parseNetworkPool(config.networkPool);
  const networkMap = new NetworkMapPublisher({
    db,
    agents,
    log,
    gateway: parseGatewayOverlay(config.gatewayOverlay),
    mtu: config.networkMtu,
  });

  const app = await buildApp({
    db,
    listVersions: listVersions.read,
    queues,
    redis,
    log,
    agents,
    policy,
    agentToken: config.agentToken,
    heartbeatIntervalMs: config.heartbeatIntervalMs,
    rateLimitPerMinute: config.rateLimitPerMinute,
    operatorRateLimitPerMinute: config.operatorRateLimitPerMinute,
    anonymousRateLimitPerMinute: config.anonymousRateLimitPerMinute,
    networkMap,
    networkMtu: config.networkMtu,
    ...(revocations ? { revocations } : {}),
  });
  const workers =
    config.workers === "on"
      ? await startWorkers(
          { db, agents, policy, log, networkPool, networkMap },
          queues,
          {
            nodes: app.services.nodes,
            nodeDeadAfterMs: config.nodeDeadAfterMs,
          },
          {
            migrationsPerNode: config.migrationsPerNode,
            jobLockMs: config.jobLockMs,
            everyMs: {
              nodeHealth: Math.max(500, Math.floor(config.heartbeatIntervalMs)),
              reconcile: 30_000,
              idempotencyGc: 3_600_000,
            },
          },
        )
      : null;

  const address = await app.listen({ host: config.host, port: config.port });
  const agentListener = material
    ? await listenForAgents(app, { host: config.host, port: config.agentPort, tls: material, log })
    : undefined;
  log.info(
    { address, agentAddress: agentListener?.address, workers: config.workers, placement: config.placement },
    "Skiff API listening",
  );

  let stopping = false;
  const stop = async (signal: string) => {
    if (stopping) return;
    stopping = true;
    log.info({ signal }, "shutting down");
    const timer = setTimeout(() => process.exit(1), 20_000);
    timer.unref();
    clearInterval(revocationRefresh);
    await agentListener?.close();
    await app.close().catch((err: unknown) => log.warn({ err: errorMessage(err) }, "closing HTTP"));
    await listVersions.close().catch(() => undefined);
    await workers?.close().catch((err: unknown) => log.warn({ err: errorMessage(err) }, "closing workers"));
    await queues.close().catch(() => undefined);
    agents.close();
    redis.disconnect();
    await db.$disconnect();
    log.info("stopped");
  };
  process.once("SIGTERM", () => void stop("SIGTERM"));
  process.once("SIGINT", () => void stop("SIGINT"));
}

main().catch((err: unknown) => {
  log.error({ code: (err as { code?: string }).code, err: errorMessage(err) }, "API failed to start");
  process.exitCode = 1;
});
