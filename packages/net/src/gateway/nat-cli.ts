/**
 * Prints the outbound NAT ruleset for a gateway host, for `nft -f -`:
 *
 *   node packages/net/dist/gateway/nat-cli.js --uplink eth0 [--pool 10.200.0.0/16] [--deny <cidr>]... | nft -f -
 *
 * The pool defaults to SKIFF_NETWORK_POOL's CIDR (the API's setting, `cidr[:prefix]`).
 */
import { parseArgs } from "node:util";
import { errorMessage } from "@skiff/common";
import { natRuleset } from "./nat.js";

try {
  const { values } = parseArgs({
    options: {
      uplink: { type: "string" },
      pool: { type: "string", default: (process.env.SKIFF_NETWORK_POOL ?? "10.200.0.0/16").split(":")[0] },
      deny: { type: "string", multiple: true, default: [] },
    },
  });
  if (!values.uplink) throw new Error("--uplink <interface> is required");
  process.stdout.write(natRuleset({ pool: values.pool, uplink: values.uplink, deny: values.deny }));
} catch (err) {
  console.error(`nat-cli: ${errorMessage(err)}`);
  process.exit(2);
}
