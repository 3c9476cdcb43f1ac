import { lookup } from "node:dns/promises";
import { isIP } from "node:net";

/**
 * The address the map gives for an overlay endpoint named `host`. A switch accepts a datagram only
 * from an endpoint of its map, compared with the datagram's source address, so the map must carry
 * addresses: a name (docker-compose's service names) is resolved here, where the API sees the same
 * network as the nodes. A name that does not resolve yet (its container not up) stays a name; the
 * next registration or map resolves it again.
 */
export async function overlayAddress(host: string): Promise<string> {
  if (isIP(host) !== 0) return host;
  try {
    return (await lookup(host, { family: 4 })).address;
  } catch {
    return host;
  }
}
