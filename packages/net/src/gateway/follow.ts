import { errorMessage } from "@skiff/common";
import type { NetworkMap } from "../map.js";

export interface MapFollower {
  /** Stops polling (waits for a request in flight). */
  stop(): Promise<void>;
}

export interface FollowOptions {
  /** The API's base URL, e.g. http://api:8080. */
  readonly apiUrl: string;
  /** A token the API accepts for GET /v1/network-map. */
  readonly token: string;
  readonly intervalMs?: number;
  /** Told once per distinct problem (an API restarting is not worth a line a second). */
  readonly say: (msg: string) => void;
}

/**
 * Polls the API's network map and hands every newer version to the gateway. Polling, not a push:
 * the gateway holds no state the API must know about, and any replica can answer.
 */
export function followNetworkMap(
  gateway: { setMap(map: NetworkMap): Promise<boolean> },
  opts: FollowOptions,
): MapFollower {
  let timer: NodeJS.Timeout | undefined;
  let inFlight: Promise<void> = Promise.resolve();
  let version = -1;
  let lastError = "";
  const poll = async () => {
    try {
      const r = await fetch(`${opts.apiUrl}/v1/network-map`, {
        headers: { authorization: `Bearer ${opts.token}` },
        signal: AbortSignal.timeout(10_000),
      });
      if (!r.ok) throw new Error(`GET /v1/network-map: HTTP ${r.status}`);
      const map = (await r.json()) as NetworkMap;
      if (map.version > version && (await gateway.setMap(map))) version = map.version;
      lastError = "";
    } catch (err) {
      const msg = errorMessage(err);
      if (msg !== lastError) opts.say(`gateway: network map not applied: ${msg}`);
      lastError = msg;
    }
  };
  const tick = () => {
    inFlight = poll().finally(() => {
      if (timer !== undefined) timer = setTimeout(tick, opts.intervalMs ?? 1000);
    });
  };
  timer = setTimeout(tick, 0);
  return {
    async stop() {
      const t = timer;
      timer = undefined;
      clearTimeout(t);
      await inFlight;
    },
  };
}
