import { randomBytes } from "node:crypto";
import { SkiffError } from "@skiff/common";

/** IPv4 addresses, CIDRs and MACs as the control plane stores them (strings) and counts them. */

export function ipv4ToNumber(ip: string): number {
  const parts = ip.split(".");
  if (parts.length !== 4) throw new SkiffError("NETWORK_BAD_ADDRESS", `not an IPv4 address: ${ip}`);
  let n = 0;
  for (const p of parts) {
    const b = Number(p);
    if (!/^\d{1,3}$/.test(p) || b > 255) {
      throw new SkiffError("NETWORK_BAD_ADDRESS", `not an IPv4 address: ${ip}`);
    }
    n = n * 256 + b;
  }
  return n;
}

export function numberToIpv4(n: number): string {
  return [n >>> 24, (n >>> 16) & 255, (n >>> 8) & 255, n & 255].join(".");
}

export interface Cidr {
  /** The network address as a number. */
  readonly base: number;
  readonly prefix: number;
  /** Addresses in the block, network and broadcast included. */
  readonly size: number;
}

export function parseCidr(cidr: string): Cidr {
  const [ip, len, extra] = cidr.split("/");
  const prefix = Number(len);
  if (!ip || extra !== undefined || !/^\d{1,2}$/.test(len ?? "") || prefix > 32) {
    throw new SkiffError("NETWORK_BAD_CIDR", `not a CIDR: ${cidr}`);
  }
  const size = 2 ** (32 - prefix);
  const addr = ipv4ToNumber(ip);
  if (addr % size !== 0) throw new SkiffError("NETWORK_BAD_CIDR", `${cidr} has host bits set`);
  return { base: addr, prefix, size };
}

export const formatCidr = (c: Cidr) => `${numberToIpv4(c.base)}/${c.prefix}`;

const hex = (n: number) => n.toString(16).padStart(2, "0");

/** A VPS MAC: QEMU's locally administered 52:54:00 prefix and three random bytes. */
export function randomVpsMac(): string {
  const b = randomBytes(3);
  return `52:54:00:${hex(b[0]!)}:${hex(b[1]!)}:${hex(b[2]!)}`;
}

/** A network gateway's MAC: its own prefix (never a VPS's) and the VNI, so it is unique too. */
export function gatewayMac(vni: number): string {
  return `52:54:01:${hex((vni >>> 16) & 255)}:${hex((vni >>> 8) & 255)}:${hex(vni & 255)}`;
}
