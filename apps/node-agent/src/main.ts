#!/usr/bin/env node
/** `node apps/node-agent/dist/main.js`: the node agent daemon, configured from the environment. */
import { createLogger, errorMessage } from "@skiff/common";
import { Agent } from "./agent.js";
import { loadAgentConfig } from "./config.js";

const log = createLogger("node-agent", process.env.LOG_LEVEL ?? "info");
let agent: Agent;
try {
  const config = loadAgentConfig();
  agent = new Agent(config, log.child({ node: config.name }));
  await agent.start();
} catch (err) {
  log.fatal({ err: errorMessage(err) }, "node agent failed to start");
  process.exit(1);
}

let stopping = false;
const shutdown = (signal: string) => {
  if (stopping) return;
  stopping = true;
  log.info({ signal }, "shutting down");
  agent.stop().then(
    () => process.exit(0),
    (err: unknown) => {
      log.error({ err: errorMessage(err) }, "unclean shutdown");
      process.exit(1);
    },
  );
};
process.on("SIGTERM", () => shutdown("SIGTERM"));
process.on("SIGINT", () => shutdown("SIGINT"));
