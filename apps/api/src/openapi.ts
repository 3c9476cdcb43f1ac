import { createLogger } from "@skiff/common";
import { Redis } from "ioredis";
import type { AgentDirectory } from "./agents/agent-client.js";
import { type App, buildApp } from "./app.js";
import { createDb } from "./db/client.js";
import { DEFAULT_POLICY } from "./domain/placement.js";
import type { JobQueues } from "./queues.js";

/** The OpenAPI document the API serves, with the type of the parts readers of it rely on. */
export interface OpenApiDocument {
  readonly openapi: string;
  readonly paths: Record<string, Record<string, unknown>>;
  readonly components: { readonly schemas: Record<string, unknown> };
}

const refuse = async (): Promise<void> => {
  throw new Error("the OpenAPI document is built without queues");
};
const noQueues: JobQueues = { enqueueProvision: refuse, enqueueLifecycle: refuse, enqueueMigration: refuse };

const noAgents: AgentDirectory = {
  forNode() {
    throw new Error("the OpenAPI document is built without agents");
  },
  close() {},
};

/**
 * The app built without connecting anywhere: the database pool and Redis connect lazily and no
 * route that needs them is called. For reading the contract, and for tests of the HTTP pipeline
 * itself (routes they add before `ready()`). Closing the app closes the clients too.
 */
export async function buildOfflineApp(): Promise<App> {
  const db = createDb("postgresql://openapi@127.0.0.1:1/none", { max: 1 });
  const redis = new Redis({ host: "127.0.0.1", port: 1, lazyConnect: true, maxRetriesPerRequest: 0 });
  const app = await buildApp({
    db,
    listVersions: () => Promise.reject(new Error("offline: no database")),
    redis,
    queues: noQueues,
    log: createLogger("openapi", "silent"),
    agents: noAgents,
    policy: DEFAULT_POLICY,
    agentToken: "",
    heartbeatIntervalMs: 1000,
    rateLimitPerMinute: 1,
  });
  app.addHook("onClose", async () => {
    redis.disconnect();
    await db.$disconnect();
  });
  return app;
}

/** The document the API serves at /openapi.json, read without a running cluster. */
export async function openApiDocument(): Promise<OpenApiDocument> {
  const app = await buildOfflineApp();
  try {
    await app.ready();
    return app.swagger() as unknown as OpenApiDocument;
  } finally {
    await app.close();
  }
}
