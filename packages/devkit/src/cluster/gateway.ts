import { join } from "node:path";
import { pathToFileURL } from "node:url";
import { createLogger, errorMessage, type Logger } from "@skiff/common";

/**
 * The region's gateway for the local cluster: @skiff/net's Gateway in its own network namespace,
 * following the API's network map. @skiff/net is loaded from its build at run time, not declared
 * as a dependency: it depends on this package for its tests, and a cycle would break the build
 * graph.
 */

/** The part of @skiff/net the cluster uses. */
interface NetGateway {
  readonly netns: string;
  readonly endpoint: { id: string; host: string; port: number };
  setMap(map: never): Promise<boolean>;
  stop(): Promise<void>;
}

interface NetModule {
  Gateway: { start(options: { netns?: string; logger?: Logger }): Promise<NetGateway> };
  followNetworkMap(
    gateway: NetGateway,
    opts: { apiUrl: string; token: string; intervalMs?: number; say: (msg: string) => void },
  ): { stop(): Promise<void> };
}

export interface RegionGateway {
  readonly netns: string;
  /** "host:port" of its overlay endpoint, given to the API as SKIFF_GATEWAY_OVERLAY. */
  readonly overlay: string;
  /** Polls the API's map and hands every newer version to the gateway. */
  follow(apiUrl: string, operatorToken: string, intervalMs?: number): void;
  stop(): Promise<void>;
}

/** The gateway, or why there is none (not root, no `ip`, no socat, no @skiff/net build). */
export async function startRegionGateway(
  repoRoot: string,
  netns: string,
  say: (msg: string) => void,
): Promise<RegionGateway | { unavailable: string }> {
  let net: NetModule;
  try {
    net = (await import(pathToFileURL(join(repoRoot, "packages/net/dist/index.js")).href)) as NetModule;
  } catch (err) {
    return { unavailable: `@skiff/net is not built (${errorMessage(err)})` };
  }
  let gateway: NetGateway;
  try {
    gateway = await net.Gateway.start({ netns, logger: createLogger("gateway", "warn") });
  } catch (err) {
    return { unavailable: errorMessage(err) };
  }
  let follower: { stop(): Promise<void> } | undefined;
  let stopped: Promise<void> | undefined;
  return {
    netns: gateway.netns,
    overlay: `${gateway.endpoint.host}:${gateway.endpoint.port}`,
    follow(apiUrl, token, intervalMs = 1000) {
      follower = net.followNetworkMap(gateway, { apiUrl, token, intervalMs, say });
    },
    stop() {
      // Once: the cluster's stop and a failed start may both ask.
      stopped ??= (async () => {
        await follower?.stop();
        await gateway.stop();
      })();
      return stopped;
    },
  };
}
