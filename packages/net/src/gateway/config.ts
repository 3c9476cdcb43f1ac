import { int, port, str } from "@skiff/common";

/** The gateway process's settings (main.ts), from the environment. */
export const gatewayConfigSpec = {
  apiUrl: str(
    "SKIFF_API_URL",
    "the API's base URL the gateway reads the network map from, e.g. http://api:8080",
  ),
  token: str("SKIFF_GATEWAY_TOKEN", "an operator token, for GET /v1/network-map", undefined, "(secret)"),
  netns: str(
    "SKIFF_NETNS",
    "network namespace to create and hold the interfaces; empty: the process's own (a container)",
    "",
  ),
  overlayHost: str("SKIFF_GATEWAY_OVERLAY_HOST", "address the overlay's UDP endpoint binds", "0.0.0.0"),
  overlayPort: port(
    "SKIFF_GATEWAY_OVERLAY_PORT",
    "UDP port of the overlay endpoint (the API's SKIFF_GATEWAY_OVERLAY names it)",
    4789,
  ),
  uplink: str(
    "SKIFF_GATEWAY_UPLINK",
    "interface toward the outside: VPS traffic leaves by it masqueraded (empty: no outbound NAT, the gateway only reaches the VPSes)",
    "",
  ),
  deny: str(
    "SKIFF_GATEWAY_DENY",
    "comma-separated CIDRs VPSes must never reach through the gateway (the region's own networks)",
    "",
  ),
  pool: str("SKIFF_NETWORK_POOL", "the region's address pool, `cidr[:prefix]` as the API's", "10.200.0.0/16"),
  pollMs: int("SKIFF_GATEWAY_POLL_MS", "how often the network map is read", 1000),
};
