import { int, loadConfig, port, str } from "@skiff/common";

export const clusterSpec = {
  stateDir: str(
    "SKIFF_STATE_DIR",
    "where the local cluster keeps its data (relative to the repo root)",
    ".skiff/cluster",
  ),
  apiPort: port("SKIFF_API_PORT", "API port of the local cluster (0 = a free port, kept across restarts)", 0),
  operatorToken: str(
    "SKIFF_OPERATOR_TOKEN",
    "operator token to seed (default: generated once and kept)",
    "",
    "(generated)",
  ),
  agents: int("SKIFF_LOCAL_AGENTS", "how many node agents the local cluster runs", 3),
};

export function clusterConfig() {
  const c = loadConfig(clusterSpec);
  return { ...c, operatorToken: c.operatorToken === "" ? undefined : c.operatorToken };
}
