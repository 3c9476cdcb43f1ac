import { bytes, int, loadConfig, port, str } from "@skiff/common";

export const clusterSpec = {
  stateDir: str(
    "SKIFF_STATE_DIR",
    "where the local cluster keeps its data, logs and secrets (relative to the repo root, or absolute)",
    ".skiff/cluster",
  ),
  apiPort: port(
    "SKIFF_API_PORT",
    "API port of the local cluster: a set port must be free, or the start fails (0 = a free port, kept across restarts)",
    0,
  ),
  operatorToken: str(
    "SKIFF_OPERATOR_TOKEN",
    "operator token to seed (default: generated once and kept)",
    "",
    "(generated)",
  ),
  netns: str(
    "SKIFF_NETNS",
    "network namespace of the region's gateway: VPS addresses are reachable from inside it (ip netns exec)",
    "skiff",
  ),
  agents: int("SKIFF_LOCAL_AGENTS", "how many node agents the local cluster runs", 3),
  agentMemory: bytes(
    "SKIFF_LOCAL_AGENT_MEMORY",
    "memory each local node agent offers, e.g. 2G (0: half the host's, shared out between the agents)",
    0,
    "(half the host ÷ agents)",
  ),
};

export function clusterConfig() {
  const c = loadConfig(clusterSpec);
  return { ...c, operatorToken: c.operatorToken === "" ? undefined : c.operatorToken };
}
