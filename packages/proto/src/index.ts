export * from "./generated/skiff/v1/common.js";
export * from "./generated/skiff/v1/migration.js";
export * from "./generated/skiff/v1/node_agent.js";
export * from "./mappers/migration.js";
export * from "./mappers/vm.js";
