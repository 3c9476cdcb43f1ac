import { positionals, stringOpt, UsageError } from "../args.js";
import { ApiError } from "../client.js";
import type { Command } from "../command.js";
import { startForward } from "../forward.js";
import { vpsId } from "../resolve.js";
import type { Vps } from "../types.js";
import { interruption } from "./common.js";

/** `8080:80` → [8080, 80]. */
export function parsePortPair(spec: string): [local: number, remote: number] {
  const m = /^(\d{1,5}):(\d{1,5})$/.exec(spec);
  const ports = m ? [Number(m[1]), Number(m[2])] : [];
  if (!m || ports[0]! > 65535 || ports[1]! < 1 || ports[1]! > 65535) {
    throw new UsageError(
      `'${spec}' is not <localPort>:<port> (e.g. 8080:80; local port 0 lets the system choose)`,
    );
  }
  return [ports[0]!, ports[1]!];
}

const forward: Command = {
  path: ["vps", "forward"],
  usage: "<vps> <localPort>:<port> [--netns NAME]",
  summary: "forward a port on 127.0.0.1 to a port of the VPS (until Ctrl-C)",
  details: [
    "  Relays through the region gateway's network namespace, where every VPS address is reachable:",
    "  run it on the gateway's host (the local cluster's), as root, with socat installed.",
    "  --netns NAME   the gateway's namespace (default: $SKIFF_NETNS, else 'skiff', the local cluster's)",
    "  Example: skiff vps forward web1 8080:80, then open http://127.0.0.1:8080/",
  ].join("\n"),
  options: { netns: { type: "string" } },
  async run(ctx) {
    const [ref, spec] = positionals(ctx.args, ["vps", "localPort:port"]);
    const [localPort, port] = parsePortPair(spec!);
    const v = await ctx.api.get<Vps>(`/v1/vps/${await vpsId(ctx.api, ref!)}`);
    if (!v.ipv4) throw new ApiError(409, "VPS_NO_ADDRESS", `${v.name} has no address yet (state ${v.state})`);
    const netns = stringOpt(ctx.args.values, "netns") ?? ctx.io.env.SKIFF_NETNS ?? "skiff";
    const fwd = await startForward(localPort, { netns, host: v.ipv4, port });
    ctx.io.err(
      `forwarding 127.0.0.1:${fwd.port} to ${v.name} (${v.ipv4}:${port}) through namespace ${netns}; Ctrl-C stops\n`,
    );
    const { signal, release } = interruption(ctx);
    await new Promise<void>((resolve) => {
      if (signal.aborted) resolve();
      signal.addEventListener("abort", () => resolve(), { once: true });
    });
    release();
    await fwd.close();
    return 0;
  },
};

export const forwardCommands: Command[] = [forward];
