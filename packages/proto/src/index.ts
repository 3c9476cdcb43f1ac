export * from "./generated/skiff/v1/common.js";
export * from "./generated/skiff/v1/migration.js";
export * from "./generated/skiff/v1/node_agent.js";
