#!/usr/bin/env node
/**
 * The region's gateway as a process of its own, for production (docker-compose's `gateway`
 * service): `node packages/net/dist/gateway/main.js`. It follows the API's network map, gives each
 * VPS network an interface holding the network's `.1` and, with SKIFF_GATEWAY_UPLINK, masquerades
 * the VPSes' outbound traffic out of that interface (nat.ts). It needs CAP_NET_ADMIN, `ip`, `socat`
 * and, for NAT, `nft`. The local cluster runs the same Gateway in-process instead (devkit).
 */
import { createLogger, errorMessage, loadConfig } from "@skiff/common";
import { gatewayConfigSpec } from "./config.js";
import { followNetworkMap } from "./follow.js";
import { Gateway } from "./gateway.js";
import { natRuleset } from "./nat.js";
import { runWithInput } from "./netns.js";

const log = createLogger("gateway", process.env.LOG_LEVEL ?? "info");

async function main(): Promise<void> {
  const config = loadConfig(gatewayConfigSpec);
  const deny = config.deny
    .split(",")
    .map((d) => d.trim())
    .filter(Boolean);
  const pool = config.pool.split(":")[0] ?? config.pool;
  // The ruleset first: forwarding is turned on only where it already holds.
  const ruleset = config.uplink ? natRuleset({ pool, uplink: config.uplink, deny }) : undefined;
  if (ruleset) await runWithInput("nft", ["-f", "-"], ruleset);
  const gateway = await Gateway.start({
    netns: config.netns || null,
    forward: ruleset !== undefined,
    overlayHost: config.overlayHost,
    overlayPort: config.overlayPort,
    logger: log,
  });
  const follower = followNetworkMap(gateway, {
    apiUrl: config.apiUrl,
    token: config.token,
    intervalMs: config.pollMs,
    say: (msg) => log.warn(msg),
  });
  log.info(
    { overlay: gateway.endpoint, netns: gateway.netns ?? "(own)", nat: ruleset ? config.uplink : "off" },
    "gateway up",
  );
  let stopping = false;
  const stop = async () => {
    if (stopping) return;
    stopping = true;
    await follower.stop();
    await gateway.stop();
    process.exit(0);
  };
  process.on("SIGTERM", () => void stop());
  process.on("SIGINT", () => void stop());
}

main().catch((err) => {
  log.error({ err: errorMessage(err) }, "gateway failed");
  process.exit(1);
});
