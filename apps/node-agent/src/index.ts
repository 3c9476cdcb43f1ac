export { AGENT_VERSION, Agent } from "./agent.js";
export { type AgentConfig, agentConfigSpec, loadAgentConfig } from "./config.js";
export type { VmStateName } from "./vm/lifecycle.js";
