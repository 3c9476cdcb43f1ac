import { int, loadConfig } from "@skiff/common";

/** The balancer job's environment (read by the API process that runs the workers). */
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
