import { SkiffError } from "@skiff/common";

/**
 * MAC and IPv4 addresses. In frames they are bytes; in the map they are strings; inside the switch
 * they are numbers (a MAC's 48 bits fit a double exactly), so lookups are Map<number, …> hits.
 */

export const BROADCAST_MAC = 0xffff_ffff_ffff;

const MAC_RE = /^[0-9a-f]{2}(:[0-9a-f]{2}){5}$/i;
const IPV4_RE = /^(\d{1,3})\.(\d{1,3})\.(\d{1,3})\.(\d{1,3})$/;

export function isMac(text: string): boolean {
  return MAC_RE.test(text);
}

/** "02:00:00:00:00:01" → 0x020000000001. Throws on a malformed string: map input is not guest traffic. */
export function macToNumber(text: string): number {
  if (!MAC_RE.test(text)) throw new SkiffError("NET_BAD_MAC", `not a MAC address: ${text}`);
  return Number.parseInt(text.replaceAll(":", ""), 16);
}

export function macToString(mac: number): string {
  const hex = mac.toString(16).padStart(12, "0");
  return hex.match(/../g)!.join(":");
}

export function readMac(buf: Uint8Array, offset: number): number {
  return (
    buf[offset] * 2 ** 40 +
    buf[offset + 1] * 2 ** 32 +
    ((buf[offset + 2] << 24) >>> 0) +
    (buf[offset + 3] << 16) +
    (buf[offset + 4] << 8) +
    buf[offset + 5]
  );
}

export function writeMac(buf: Uint8Array, offset: number, mac: number): void {
  const high = Math.floor(mac / 2 ** 32);
  const low = mac >>> 0;
  buf[offset] = (high >>> 8) & 0xff;
  buf[offset + 1] = high & 0xff;
  buf[offset + 2] = low >>> 24;
  buf[offset + 3] = (low >>> 16) & 0xff;
  buf[offset + 4] = (low >>> 8) & 0xff;
  buf[offset + 5] = low & 0xff;
}

/** Group bit of the first octet: broadcast and multicast. */
export function isGroupMac(mac: number): boolean {
  return Math.floor(mac / 2 ** 40) % 2 === 1;
}

export function isIpv4(text: string): boolean {
  return (
    IPV4_RE.exec(text)
      ?.slice(1)
      .every((part) => Number(part) <= 255) ?? false
  );
}

/** "10.0.0.1" → 0x0a000001 (unsigned). */
export function ipv4ToNumber(text: string): number {
  if (!isIpv4(text)) throw new SkiffError("NET_BAD_IPV4", `not an IPv4 address: ${text}`);
  const m = IPV4_RE.exec(text)!;
  return ((Number(m[1]) << 24) | (Number(m[2]) << 16) | (Number(m[3]) << 8) | Number(m[4])) >>> 0;
}

export function ipv4ToString(ip: number): string {
  return `${ip >>> 24}.${(ip >>> 16) & 0xff}.${(ip >>> 8) & 0xff}.${ip & 0xff}`;
}

export function readIpv4(buf: Uint8Array, offset: number): number {
  return ((buf[offset] << 24) | (buf[offset + 1] << 16) | (buf[offset + 2] << 8) | buf[offset + 3]) >>> 0;
}

export function writeIpv4(buf: Uint8Array, offset: number, ip: number): void {
  buf[offset] = ip >>> 24;
  buf[offset + 1] = (ip >>> 16) & 0xff;
  buf[offset + 2] = (ip >>> 8) & 0xff;
  buf[offset + 3] = ip & 0xff;
}

export interface Cidr {
  /** Network address (host bits zero). */
  base: number;
  prefix: number;
  mask: number;
}

/** "10.1.0.0/24" → base, prefix, mask. Throws on malformed input or host bits set. */
export function parseCidr(text: string): Cidr {
  const [addr, prefixText, ...rest] = text.split("/");
  const prefix = Number(prefixText);
  if (rest.length > 0 || !Number.isInteger(prefix) || prefix < 0 || prefix > 32 || !isIpv4(addr ?? "")) {
    throw new SkiffError("NET_BAD_CIDR", `not a CIDR: ${text}`);
  }
  const mask = prefix === 0 ? 0 : (0xffff_ffff << (32 - prefix)) >>> 0;
  const base = ipv4ToNumber(addr);
  if ((base & mask) >>> 0 !== base) throw new SkiffError("NET_BAD_CIDR", `host bits set in ${text}`);
  return { base, prefix, mask };
}

export function cidrContains(cidr: Cidr, ip: number): boolean {
  return (ip & cidr.mask) >>> 0 === cidr.base;
}
