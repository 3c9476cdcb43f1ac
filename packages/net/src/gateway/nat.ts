import { SkiffError } from "@skiff/common";

/** Outbound NAT for VPS networks on a production gateway (docker-compose's `gateway` service). */
export interface NatOptions {
  /** The region's pool (SKIFF_NETWORK_POOL's CIDR): every VPS network lies inside it. */
  pool: string;
  /** The interface toward the outside world: VPS traffic leaves by it, masqueraded to its address. */
  uplink: string;
  /**
   * Destinations VPSes must not reach through the gateway: the region's own networks (nodes,
   * database, storage, the API's agent listener). The pool itself is always refused.
   */
  deny?: readonly string[];
  /** The nftables table; default "skiff_nat". */
  table?: string;
}

const CIDR = /^(\d{1,3})\.(\d{1,3})\.(\d{1,3})\.(\d{1,3})\/(\d{1,2})$/;
const NAME = /^[A-Za-z0-9_.-]{1,15}$/;

/**
 * The nftables ruleset (`nft -f -`) for outbound NAT: VPS traffic from the pool out of the uplink
 * is masqueraded and its replies come back; nothing else to or from the pool is forwarded (not from
 * outside in, not from one VPS network to another, not to the denied ranges). Traffic outside the
 * pool is left alone, so the host may forward other things. Loading it replaces an earlier load of
 * the same table whole (the `add`/`delete` pair makes the delete safe when the table is new).
 */
export function natRuleset(options: NatOptions): string {
  const pool = cidr(options.pool, "pool");
  const deny = [pool, ...(options.deny ?? []).map((d) => cidr(d, "deny"))];
  const uplink = name(options.uplink, "uplink");
  const table = name(options.table ?? "skiff_nat", "table");
  return [
    `add table ip ${table}`,
    `delete table ip ${table}`,
    `table ip ${table} {`,
    "  chain forward {",
    "    type filter hook forward priority filter; policy accept;",
    "    ct state established,related accept",
    `    ip saddr ${pool} ip daddr { ${deny.join(", ")} } drop`,
    `    ip saddr ${pool} oifname "${uplink}" accept`,
    `    ip saddr ${pool} drop`,
    `    ip daddr ${pool} drop`,
    "  }",
    "  chain postrouting {",
    "    type nat hook postrouting priority srcnat; policy accept;",
    `    ip saddr ${pool} oifname "${uplink}" masquerade`,
    "  }",
    "}",
    "",
  ].join("\n");
}

function cidr(value: string, what: string): string {
  const m = CIDR.exec(value.trim());
  if (!m || m.slice(1, 5).some((o) => Number(o) > 255) || Number(m[5]) > 32) {
    throw new SkiffError("NET_NAT_INVALID", `NAT ${what}: ${JSON.stringify(value)} is not an IPv4 CIDR`, {
      [what]: value,
    });
  }
  return value.trim();
}

function name(value: string, what: string): string {
  if (!NAME.test(value)) {
    throw new SkiffError(
      "NET_NAT_INVALID",
      `NAT ${what}: ${JSON.stringify(value)} is not an interface or table name`,
      {
        [what]: value,
      },
    );
  }
  return value;
}
