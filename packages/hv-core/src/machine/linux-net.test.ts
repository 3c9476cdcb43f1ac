import { readFileSync } from "node:fs";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { type NetBackend, parseMac } from "../devices/virtio/net.js";
import { Machine } from "./machine.js";

const linux = new URL("../../../../guests/linux/", import.meta.url).pathname;
const MAC = "52:54:00:ab:cd:ef";

const SERVER_MAC = Uint8Array.of(0x52, 0x54, 0x00, 0x00, 0x00, 0x01);
const SERVER_IP = [10, 0, 2, 2];
const GUEST_IP = [10, 0, 2, 15];

/** The DHCP message type (option 53) of a client's BOOTREQUEST from `mac` (UDP 68 -> 67), or 0. */
function dhcpRequestType(f: Uint8Array, mac: Uint8Array): number {
  const v = new DataView(f.buffer, f.byteOffset, f.byteLength);
  if (f.length < 14 + 20 + 8 + 240 || !f.subarray(0, 6).every((b) => b === 0xff)) return 0;
  if (!f.subarray(6, 12).every((b, i) => b === mac[i]) || v.getUint16(12) !== 0x0800) return 0;
  const ip = 14;
  const ihl = (f[ip]! & 0x0f) * 4;
  if (f[ip]! >> 4 !== 4 || f[ip + 9] !== 17) return 0; // IPv4, UDP
  const udp = ip + ihl;
  if (v.getUint16(udp) !== 68 || v.getUint16(udp + 2) !== 67) return 0;
  const bootp = udp + 8;
  if (f[bootp] !== 1 || f[bootp + 1] !== 1 || f[bootp + 2] !== 6) return 0; // BOOTREQUEST, Ethernet
  if (!f.subarray(bootp + 28, bootp + 34).every((b, i) => b === mac[i])) return 0; // chaddr
  if (v.getUint32(bootp + 236) !== 0x63825363) return 0; // magic cookie
  for (let o = bootp + 240; o + 1 < f.length && f[o] !== 255; ) {
    if (f[o] === 0) {
      o++;
      continue;
    }
    if (f[o] === 53) return f[o + 2]!;
    o += 2 + f[o + 1]!;
  }
  return 0;
}

/** The server's answer (OFFER = 2, ACK = 5) to a client request: broadcast, UDP 67 -> 68 (RFC 2131). */
function dhcpReply(request: Uint8Array, type: number): Uint8Array {
  const options = [
    53,
    1,
    type,
    54,
    4,
    ...SERVER_IP,
    51,
    4,
    0,
    0,
    0x0e,
    0x10,
    1,
    4,
    255,
    255,
    255,
    0,
    3,
    4,
    ...SERVER_IP,
    255,
  ];
  const bootpLen = 240 + options.length;
  const f = new Uint8Array(14 + 20 + 8 + bootpLen);
  const v = new DataView(f.buffer);
  f.fill(0xff, 0, 6);
  f.set(SERVER_MAC, 6);
  v.setUint16(12, 0x0800);
  const ip = 14;
  f.set([0x45, 0], ip);
  v.setUint16(ip + 2, 20 + 8 + bootpLen);
  f.set([64, 17], ip + 8); // TTL, UDP
  f.set(SERVER_IP, ip + 12);
  f.fill(0xff, ip + 16, ip + 20);
  let sum = 0;
  for (let i = 0; i < 20; i += 2) sum += v.getUint16(ip + i);
  while (sum > 0xffff) sum = (sum & 0xffff) + (sum >>> 16);
  v.setUint16(ip + 10, ~sum & 0xffff);
  const udp = ip + 20;
  v.setUint16(udp, 67);
  v.setUint16(udp + 2, 68);
  v.setUint16(udp + 4, 8 + bootpLen); // checksum 0: none (IPv4)
  const bootp = udp + 8;
  const req = 14 + (request[14]! & 0x0f) * 4 + 8;
  f.set([2, 1, 6, 0], bootp); // BOOTREPLY, Ethernet, hlen 6
  f.set(request.subarray(req + 4, req + 8), bootp + 4); // xid
  f.set(GUEST_IP, bootp + 16); // yiaddr
  f.set(SERVER_IP, bootp + 20); // siaddr
  f.set(request.subarray(req + 28, req + 44), bootp + 28); // chaddr
  v.setUint32(bootp + 236, 0x63825363);
  f.set(options, bootp + 240);
  return f;
}

/** A DHCP server on the other end of the cable: records every frame, answers DISCOVER and REQUEST. */
class DhcpServer implements NetBackend {
  readonly frames: Uint8Array[] = [];
  readonly discovers: Uint8Array[] = [];
  private readonly replies: Uint8Array[] = [];
  private deliver: (frames: readonly Uint8Array[]) => number = () => 0;

  constructor(private readonly clientMac: Uint8Array) {}

  send(frame: Uint8Array): void {
    this.frames.push(frame);
    const type = dhcpRequestType(frame, this.clientMac);
    if (type === 1) this.discovers.push(frame);
    // Answered between run slices, as a switch port would, not from inside the guest's notify.
    if (type === 1) this.replies.push(dhcpReply(frame, 2));
    if (type === 3) this.replies.push(dhcpReply(frame, 5));
  }

  onFrame(deliver: (frames: readonly Uint8Array[]) => number): void {
    this.deliver = deliver;
  }

  flush(): void {
    const replies = this.replies.splice(0);
    expect(this.deliver(replies)).toBe(replies.length);
  }
}

describe("virtio-net under Linux", () => {
  it("is bound by virtio_net as eth0: the kernel's DHCP client gets its address through it", () => {
    const mac = parseMac(MAC);
    const server = new DhcpServer(mac);
    const m = Machine.create({
      mode: "hypervisor",
      memoryBytes: 64 << 20,
      image: readFileSync(join(linux, "Image")),
      initrd: readFileSync(join(linux, "initramfs.cpio")),
      bootargs: "console=ttyS0 earlycon=sbi ip=dhcp skiff.run=cat_/sys/class/net/eth0/device/uevent;poweroff",
      net: { mac: MAC, backend: server },
      clock: "instructions",
    });
    let console = "";
    m.onConsoleOutput = (b) => {
      console += Buffer.from(b).toString("latin1");
    };
    try {
      let exit = m.run(0);
      for (let i = 0; i < 200 && exit.kind !== "poweroff"; i++) {
        exit = m.run(1_000_000);
        server.flush();
        expect(exit.kind === "budget" || exit.kind === "idle" || exit.kind === "poweroff", console).toBe(
          true,
        );
      }
      expect(exit.kind, console).toBe("poweroff");
      // The first frame the guest ever sends is a well-formed DHCPDISCOVER from its MAC.
      expect(server.discovers.length).toBeGreaterThan(0);
      expect(server.frames[0]).toEqual(server.discovers[0]);
      expect(console).toContain("IP-Config: Complete:");
      expect(console).toContain("device=eth0, hwaddr=52:54:00:ab:cd:ef, ipaddr=10.0.2.15");
      expect(console).toContain("DRIVER=virtio_net");
      const c = m.net!.counters;
      expect(c.txFrames).toBe(server.frames.length);
      expect(c.rxFrames).toBe(2); // OFFER and ACK
      expect(c.txMalformed + c.txDropped + c.rxDropped).toBe(0);
    } finally {
      m.close();
    }
  }, 120_000);
});
