/**
 * Integration-test harness: real PostgreSQL and Redis (from @skiff/devkit), the migrations and
 * seed applied, and the real Fastify app over them. Requests go through `app.inject` (the whole
 * HTTP pipeline without a socket) unless a test listens for real.
 */
import { randomUUID } from "node:crypto";
import { createLogger } from "@skiff/common";
import { startTestServices, type TestServices, testRegion } from "@skiff/devkit";
import { Redis } from "ioredis";
import type { AgentDirectory } from "../agents/agent-client.js";
import { GrpcAgentDirectory } from "../agents/grpc-agent.js";
import { type App, buildApp } from "../app.js";
import { NodeRevocations } from "../auth/node-revocations.js";
import { hashToken, newToken, tokenPrefix } from "../auth/tokens.js";
import { createDb, type Db } from "../db/client.js";
import { listVersionReader } from "../db/list-versions.js";
import { findMigrationsDir, migrate, readMigrations } from "../db/migrations.js";
import { seed } from "../db/seed.js";
import { DEFAULT_POLICY, type PlacementPolicy } from "../domain/placement.js";
import { NetworkMapPublisher } from "../network/publisher.js";
import { BullQueues } from "../queues.js";

export const AGENT_TOKEN = "test-agent-secret";

export interface Harness {
  readonly app: App;
  readonly db: Db;
  readonly redis: Redis;
  readonly queues: BullQueues;
  readonly services: TestServices;
  readonly agents: AgentDirectory;
  /** Pushes the network map to registered agents (the app's, also for workers in tests). */
  readonly networkMap: NetworkMapPublisher;
  readonly operatorToken: string;
  readonly defaultProjectId: string;
  /** A new project with a tenant token for it. */
  tenant(
    name?: string,
    quotas?: { maxVps?: number; maxVcpus?: number; maxMemoryBytes?: bigint },
  ): Promise<{ projectId: string; token: string }>;
  /** app.inject with a bearer token and JSON body. */
  call(
    token: string | null,
    method: "GET" | "POST" | "PUT" | "DELETE" | "PATCH",
    url: string,
    body?: unknown,
    headers?: Record<string, string>,
    // biome-ignore lint/suspicious/noExplicitAny: tests inspect response bodies freely
  ): Promise<{ status: number; body: any; headers: Record<string, unknown> }>;
  close(): Promise<void>;
}

export interface HarnessOptions {
  readonly rateLimitPerMinute?: number;
  readonly operatorRateLimitPerMinute?: number;
  readonly policy?: PlacementPolicy;
  readonly heartbeatIntervalMs?: number;
  /** Agents must come with their node's certificate (as main.ts with TLS on); default: the token alone. */
  readonly agentCertificates?: boolean;
}

export async function startHarness(opts: HarnessOptions = {}): Promise<Harness> {
  const services = await startTestServices();
  const url = services.postgres.url;
  await migrate(url, readMigrations(findMigrationsDir(import.meta.dirname)));
  const db = createDb(url, { max: 10 });
  const listVersions = listVersionReader(url);
  const operatorToken = `skiff_op_${randomUUID()}`;
  const { projectId: defaultProjectId } = await seed(db, { operatorToken });
  const redis = new Redis(services.redis.url, { maxRetriesPerRequest: 3 });
  const queues = new BullQueues({ redisUrl: services.redis.url, prefix: `t${randomUUID().slice(0, 8)}` });
  const revocations = opts.agentCertificates
    ? new NodeRevocations(db, (name) => agents.forget(name))
    : undefined;
  // Mutual TLS as in production: agents a test starts take their certificates from testRegion().
  const agents = new GrpcAgentDirectory(AGENT_TOKEN, {
    material: (await testRegion()).api,
    log: createLogger("api-test"),
    ...(revocations ? { revocations } : {}),
  });
  const networkMap = new NetworkMapPublisher({ db, agents, log: createLogger("api-test") });
  const app = await buildApp({
    networkMap,
    db,
    listVersions: listVersions.read,
    queues,
    redis,
    log: createLogger("api-test"),
    agents,
    policy: opts.policy ?? DEFAULT_POLICY,
    agentToken: AGENT_TOKEN,
    heartbeatIntervalMs: opts.heartbeatIntervalMs ?? 1000,
    rateLimitPerMinute: opts.rateLimitPerMinute ?? 100_000,
    operatorRateLimitPerMinute: opts.operatorRateLimitPerMinute,
    ...(revocations ? { revocations } : {}),
  });
  await app.ready();
  let tenants = 0;
  return {
    app,
    db,
    redis,
    queues,
    services,
    agents,
    networkMap,
    operatorToken,
    defaultProjectId,
    async tenant(name, quotas = {}) {
      const project = await db.project.create({
        data: { name: name ?? `tenant-${++tenants}-${randomUUID().slice(0, 6)}`, ...quotas },
      });
      const token = newToken("tenant");
      await db.apiToken.create({
        data: {
          name: "test",
          prefix: tokenPrefix(token),
          hash: hashToken(token),
          scope: "tenant",
          projectId: project.id,
        },
      });
      return { projectId: project.id, token };
    },
    async call(token, method, path, body, headers = {}) {
      const res = await app.inject({
        method,
        url: path,
        headers: { ...(token ? { authorization: `Bearer ${token}` } : {}), ...headers },
        ...(body !== undefined ? { payload: body as object } : {}),
      });
      let parsed: unknown = res.body;
      try {
        parsed = res.body ? JSON.parse(res.body) : undefined;
      } catch {
        // not JSON (metrics, docs)
      }
      return { status: res.statusCode, body: parsed, headers: res.headers };
    },
    async close() {
      await app.close();
      await listVersions.close();
      await queues.close();
      agents.close();
      redis.disconnect();
      await db.$disconnect();
      await services.stop();
    },
  };
}
