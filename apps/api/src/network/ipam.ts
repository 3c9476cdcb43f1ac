import { SkiffError } from "@skiff/common";
import type { Network, Prisma } from "../db/client.js";
import { formatCidr, gatewayMac, ipv4ToNumber, numberToIpv4, parseCidr, randomVpsMac } from "./addresses.js";

type Tx = Prisma.TransactionClient;

/**
 * Address management in PostgreSQL. Callers run it inside the placement transaction, which holds
 * the placement advisory lock: allocations are serialized, and the unique indexes (network CIDR
 * and VNI, address per network, MAC) make a bug a failed transaction instead of two VPSes with one
 * address.
 */

/** The region's pool: a block split into one network per project. */
export interface NetworkPool {
  /** e.g. "10.200.0.0/16" */
  readonly cidr: string;
  /** Prefix length of each project's network, e.g. 24. */
  readonly networkPrefix: number;
}

export const DEFAULT_NETWORK_POOL: NetworkPool = { cidr: "10.200.0.0/16", networkPrefix: 24 };

/** "10.200.0.0/16" (networks of /24) or "10.200.0.0/16:26". */
export function parseNetworkPool(spec: string): NetworkPool {
  const [cidr, len] = spec.split(":");
  const pool = parseCidr(cidr ?? "");
  const networkPrefix = len === undefined ? Math.max(24, pool.prefix) : Number(len);
  if (!Number.isInteger(networkPrefix) || networkPrefix < pool.prefix || networkPrefix > 29) {
    throw new SkiffError(
      "NETWORK_BAD_POOL",
      `network prefix /${len} must be between the pool's /${pool.prefix} and /29`,
    );
  }
  return { cidr: formatCidr(pool), networkPrefix };
}

export interface Nic {
  readonly networkId: string;
  readonly ipv4: string;
  readonly mac: string;
}

/** VXLAN's 24-bit space, 0 reserved. */
const MAX_VNI = 0xffffff;

/** The project's network, created from the pool's lowest free block on first use. */
export async function projectNetwork(tx: Tx, projectId: string, pool: NetworkPool): Promise<Network> {
  const existing = await tx.network.findUnique({ where: { projectId_name: { projectId, name: "default" } } });
  if (existing) return existing;
  const all = await tx.network.findMany({ select: { cidr: true, vni: true } });
  const block = parseCidr(pool.cidr);
  const size = 2 ** (32 - pool.networkPrefix);
  const taken = new Set(all.map((n) => n.cidr));
  let base = -1;
  for (let b = block.base; b < block.base + block.size; b += size) {
    if (!taken.has(`${numberToIpv4(b)}/${pool.networkPrefix}`)) {
      base = b;
      break;
    }
  }
  if (base < 0)
    throw new SkiffError("NETWORK_POOL_EXHAUSTED", `no free /${pool.networkPrefix} in ${pool.cidr}`);
  const vnis = new Set(all.map((n) => n.vni));
  let vni = 1;
  while (vnis.has(vni)) vni++;
  if (vni > MAX_VNI) throw new SkiffError("NETWORK_VNI_EXHAUSTED", "no free VNI");
  return tx.network.create({
    data: {
      projectId,
      name: "default",
      vni,
      cidr: `${numberToIpv4(base)}/${pool.networkPrefix}`,
      gatewayIpv4: numberToIpv4(base + 1),
      gatewayMac: gatewayMac(vni),
    },
  });
}

/**
 * The VPS's NIC: the one it has (kept across restarts, recovery and migrations), else the lowest
 * free address of its project's network (.1 is the gateway) and a new MAC, written to the row.
 */
export async function ensureNic(
  tx: Tx,
  vps: { id: string; projectId: string; networkId: string | null; ipv4: string | null; mac: string | null },
  pool: NetworkPool,
): Promise<Nic> {
  if (vps.networkId && vps.ipv4 && vps.mac) return { networkId: vps.networkId, ipv4: vps.ipv4, mac: vps.mac };
  const network = await projectNetwork(tx, vps.projectId, pool);
  const cidr = parseCidr(network.cidr);
  const used = await tx.vps.findMany({
    where: { networkId: network.id, ipv4: { not: null } },
    select: { ipv4: true },
  });
  const taken = new Set(used.map((u) => ipv4ToNumber(u.ipv4!)));
  taken.add(ipv4ToNumber(network.gatewayIpv4));
  let ip = -1;
  // Neither the network address nor the broadcast address.
  for (let a = cidr.base + 1; a < cidr.base + cidr.size - 1; a++) {
    if (!taken.has(a)) {
      ip = a;
      break;
    }
  }
  if (ip < 0) throw new SkiffError("NETWORK_FULL", `network ${network.cidr} has no free address`);
  let mac = randomVpsMac();
  // 2^24 MACs: a collision is rare, and the unique index catches any that slips through.
  while (await tx.vps.findUnique({ where: { mac }, select: { id: true } })) mac = randomVpsMac();
  const nic = { networkId: network.id, ipv4: numberToIpv4(ip), mac };
  await tx.vps.update({ where: { id: vps.id }, data: nic });
  return nic;
}

/** Columns that release a VPS's address and MAC (at deletion). */
export const RELEASE_NIC = { networkId: null, ipv4: null, mac: null } as const;
