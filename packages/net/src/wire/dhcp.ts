import { readIpv4, readMac, writeIpv4, writeMac } from "./address.js";
import { fail, ok, type Parsed } from "./result.js";

/** RFC 2131 message types (option 53). */
export const DhcpMessageType = {
  DISCOVER: 1,
  OFFER: 2,
  REQUEST: 3,
  DECLINE: 4,
  ACK: 5,
  NAK: 6,
  RELEASE: 7,
  INFORM: 8,
} as const;
export type DhcpMessageType = (typeof DhcpMessageType)[keyof typeof DhcpMessageType];

/** RFC 2132 option codes this package reads or writes. */
export const DhcpOption = {
  SUBNET_MASK: 1,
  ROUTER: 3,
  DNS: 6,
  HOSTNAME: 12,
  MTU: 26,
  REQUESTED_IP: 50,
  LEASE_TIME: 51,
  MESSAGE_TYPE: 53,
  SERVER_ID: 54,
  PARAMETER_LIST: 55,
} as const;

export const DHCP_SERVER_PORT = 67;
export const DHCP_CLIENT_PORT = 68;
const BOOTREQUEST = 1;
const BOOTREPLY = 2;
const FIXED_BYTES = 236;
const MAGIC_COOKIE = 0x63825363;
const FLAG_BROADCAST = 0x8000;

export interface DhcpMessage {
  op: 1 | 2;
  xid: number;
  secs: number;
  broadcast: boolean;
  ciaddr: number;
  yiaddr: number;
  siaddr: number;
  giaddr: number;
  /** The client's hardware address (Ethernet: 6 bytes). */
  chaddr: number;
  messageType: DhcpMessageType;
  /** Raw options by code, other than pad/end/message type. */
  options: Map<number, Uint8Array>;
}

/**
 * BOOTP fixed part, magic cookie, then options (RFC 2131 §2, RFC 2132). Option overload (52) is not
 * honoured: sname and file stay opaque. Only Ethernet clients (htype 1, hlen 6) are accepted.
 */
export function parseDhcp(bytes: Uint8Array): Parsed<DhcpMessage> {
  if (bytes.length < FIXED_BYTES + 4) return fail("TRUNCATED");
  const op = bytes[0];
  if (op !== BOOTREQUEST && op !== BOOTREPLY) return fail("UNSUPPORTED");
  if (bytes[1] !== 1 || bytes[2] !== 6) return fail("UNSUPPORTED");
  if (readIpv4(bytes, FIXED_BYTES) !== MAGIC_COOKIE) return fail("BAD_VERSION");
  const options = new Map<number, Uint8Array>();
  let messageType: number | undefined;
  let i = FIXED_BYTES + 4;
  let ended = false;
  while (i < bytes.length) {
    const code = bytes[i];
    if (code === 0) {
      i += 1;
      continue;
    }
    if (code === 255) {
      ended = true;
      break;
    }
    if (i + 1 >= bytes.length) return fail("BAD_OPTION");
    const len = bytes[i + 1];
    if (i + 2 + len > bytes.length) return fail("BAD_OPTION");
    const value = bytes.subarray(i + 2, i + 2 + len);
    if (code === DhcpOption.MESSAGE_TYPE) {
      if (len !== 1) return fail("BAD_OPTION");
      messageType = value[0];
    } else {
      options.set(code, value);
    }
    i += 2 + len;
  }
  if (!ended) return fail("BAD_OPTION");
  if (messageType === undefined || messageType < 1 || messageType > 8) return fail("BAD_OPTION");
  return ok({
    op,
    xid: readIpv4(bytes, 4),
    secs: (bytes[8] << 8) | bytes[9],
    broadcast: (((bytes[10] << 8) | bytes[11]) & FLAG_BROADCAST) !== 0,
    ciaddr: readIpv4(bytes, 12),
    yiaddr: readIpv4(bytes, 16),
    siaddr: readIpv4(bytes, 20),
    giaddr: readIpv4(bytes, 24),
    chaddr: readMac(bytes, 28),
    messageType: messageType as DhcpMessageType,
    options,
  });
}

export function buildDhcp(message: DhcpMessage): Buffer {
  let optionBytes = 3 + 1; // message type + end
  for (const value of message.options.values()) optionBytes += 2 + value.length;
  const out = Buffer.alloc(FIXED_BYTES + 4 + optionBytes);
  out[0] = message.op;
  out[1] = 1;
  out[2] = 6;
  writeIpv4(out, 4, message.xid);
  out.writeUInt16BE(message.secs, 8);
  out.writeUInt16BE(message.broadcast ? FLAG_BROADCAST : 0, 10);
  writeIpv4(out, 12, message.ciaddr);
  writeIpv4(out, 16, message.yiaddr);
  writeIpv4(out, 20, message.siaddr);
  writeIpv4(out, 24, message.giaddr);
  writeMac(out, 28, message.chaddr);
  writeIpv4(out, FIXED_BYTES, MAGIC_COOKIE);
  let i = FIXED_BYTES + 4;
  out[i++] = DhcpOption.MESSAGE_TYPE;
  out[i++] = 1;
  out[i++] = message.messageType;
  for (const [code, value] of message.options) {
    if (value.length > 255) throw new RangeError(`DHCP option ${code} longer than 255 bytes`);
    out[i++] = code;
    out[i++] = value.length;
    out.set(value, i);
    i += value.length;
  }
  out[i] = 255;
  return out;
}

/** Option value helpers. */
export function ipv4Option(...ips: number[]): Uint8Array {
  const out = new Uint8Array(4 * ips.length);
  for (const [n, ip] of ips.entries()) writeIpv4(out, 4 * n, ip);
  return out;
}

export function u32Option(value: number): Uint8Array {
  const out = Buffer.alloc(4);
  out.writeUInt32BE(value >>> 0, 0);
  return out;
}

export function u16Option(value: number): Uint8Array {
  const out = Buffer.alloc(2);
  out.writeUInt16BE(value, 0);
  return out;
}

/** An option holding one IPv4 address, or undefined when absent or the wrong size. */
export function readIpv4Option(message: DhcpMessage, code: number): number | undefined {
  const value = message.options.get(code);
  return value && value.length === 4 ? readIpv4(value, 0) : undefined;
}
