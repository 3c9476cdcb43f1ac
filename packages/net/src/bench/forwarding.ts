import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { setTimeout as sleep, setImmediate as yieldTurn } from "node:timers/promises";
import type { NetworkMap } from "../map.js";
import { VxlanTransport } from "../overlay/vxlan-transport.js";
import { PortLinkClient } from "../port-link/client.js";
import { PortLinkServer } from "../port-link/server.js";
import { NodeSwitch } from "../switch/node-switch.js";
import { ipv4ToNumber, macToNumber } from "../wire/address.js";
import { buildEthernet, CLASSIC_FRAME_BYTES, ETHERTYPE_IPV4 } from "../wire/ethernet.js";
import { buildIpv4, IP_PROTO_UDP, ipv4Header } from "../wire/ipv4.js";
import { buildUdp } from "../wire/udp.js";
import { type Result, result } from "./result.js";

/**
 * Switch forwarding throughput with full-size (1514-byte) frames: in-process between two local
 * ports, between two VMM clients over Unix socket port links, and across the VXLAN overlay between
 * two switches on 127.0.0.1.
 */

export const SECONDS = Number(process.env.BENCH_SECONDS ?? 2);
const A = { vpsId: "a", mac: "02:00:00:00:00:0a", ipv4: "10.1.0.10" };
const B = { vpsId: "b", mac: "02:00:00:00:00:0b", ipv4: "10.1.0.11" };

function map(nodeOfB: string, nodes: NetworkMap["nodes"] = []): NetworkMap {
  return {
    version: 1,
    networks: [
      { id: "net1", vni: 101, cidr: "10.1.0.0/24", gateway: { ipv4: "10.1.0.1", mac: "02:00:00:01:00:01" } },
    ],
    ports: [
      { ...A, networkId: "net1", node: "n1", hostname: "a" },
      { ...B, networkId: "net1", node: nodeOfB, hostname: "b" },
    ],
    nodes,
  };
}

function fullFrame(): Buffer {
  const src = ipv4ToNumber(A.ipv4);
  const dst = ipv4ToNumber(B.ipv4);
  const payload = Buffer.alloc(CLASSIC_FRAME_BYTES - 14 - 20 - 8, 0x5a);
  const udp = buildUdp({ srcPort: 9, dstPort: 9, payload }, src, dst);
  return buildEthernet(
    { dst: macToNumber(B.mac), src: macToNumber(A.mac), etherType: ETHERTYPE_IPV4 },
    buildIpv4(ipv4Header(src, dst, IP_PROTO_UDP), udp),
  );
}

async function local(): Promise<Result> {
  const sw = new NodeSwitch({ nodeId: "n1" });
  sw.setMap(map("n1"));
  let delivered = 0;
  const a = sw.attach("a", () => true);
  sw.attach("b", () => {
    delivered++;
    return true;
  });
  const frame = fullFrame();
  let sent = 0;
  const start = process.hrtime.bigint();
  const end = start + BigInt(SECONDS * 1e9);
  while (process.hrtime.bigint() < end) {
    for (let i = 0; i < 1000; i++) a.input(frame);
    sent += 1000;
  }
  const seconds = Number(process.hrtime.bigint() - start) / 1e9;
  return result("switch, local ports, in process", sent, delivered, seconds);
}

async function portLinks(): Promise<Result> {
  const dir = mkdtempSync(join(tmpdir(), "skiff-net-bench-"));
  const sw = new NodeSwitch({ nodeId: "n1" });
  sw.setMap(map("n1"));
  const serverA = await PortLinkServer.listen(join(dir, "a.sock"), sw, "a");
  const serverB = await PortLinkServer.listen(join(dir, "b.sock"), sw, "b");
  const a = await PortLinkClient.connect(join(dir, "a.sock"));
  const b = await PortLinkClient.connect(join(dir, "b.sock"));
  let delivered = 0;
  b.onFrame(() => delivered++);
  const frame = fullFrame();
  const measured = await paced(
    frame,
    (f) => a.send(f),
    () => delivered,
    // A socket's receive buffer (net.core.rmem_max, 208 KiB by default) holds about 76 full frames
    // (each costs its buffer's true size, ~2.8 KiB): a larger burst is lost by the kernel.
    64,
  );
  await Promise.all([a.close(), b.close()]);
  await Promise.all([serverA.close(), serverB.close()]);
  rmSync(dir, { recursive: true, force: true });
  return result("switch, two VMM port links (Unix sockets)", measured.sent, delivered, measured.seconds);
}

async function overlay(): Promise<Result> {
  const t1 = await VxlanTransport.bind();
  const t2 = await VxlanTransport.bind();
  const nodes = [
    { id: "n1", ...t1.address },
    { id: "n2", ...t2.address },
  ];
  const s1 = new NodeSwitch({ nodeId: "n1", overlay: t1 });
  const s2 = new NodeSwitch({ nodeId: "n2", overlay: t2 });
  s1.setMap(map("n2", nodes));
  s2.setMap(map("n2", nodes));
  const a = s1.attach("a", () => true);
  let delivered = 0;
  s2.attach("b", () => {
    delivered++;
    return true;
  });
  const measured = await paced(
    fullFrame(),
    (f) => {
      a.input(f);
      return true;
    },
    () => delivered,
    // A socket's receive buffer (net.core.rmem_max, 208 KiB by default) holds about 76 full frames
    // (each costs its buffer's true size, ~2.8 KiB): a larger burst is lost by the kernel.
    64,
  );
  await Promise.all([t1.close(), t2.close()]);
  return result("switch → VXLAN/UDP 127.0.0.1 → switch", measured.sent, delivered, measured.seconds);
}

/**
 * Sends for SECONDS, keeping at most a window of frames in flight (sent, not yet delivered) so the
 * measurement is of forwarding, not of socket buffers overflowing; then waits for the stragglers.
 */
async function paced(frame: Buffer, send: (f: Buffer) => boolean, delivered: () => number, window: number) {
  let sent = 0;
  const start = process.hrtime.bigint();
  const end = start + BigInt(SECONDS * 1e9);
  while (process.hrtime.bigint() < end) {
    while (sent - delivered() < window) {
      if (send(frame)) sent++;
      else break;
    }
    await yieldTurn();
  }
  // Drain: until everything landed, or nothing more has for 200 ms (those are lost).
  for (let idle = 0, last = -1; delivered() < sent && idle < 20; ) {
    await sleep(10);
    idle = delivered() === last ? idle + 1 : 0;
    last = delivered();
  }
  return { sent, seconds: Number(process.hrtime.bigint() - start) / 1e9 };
}

/** The switch's scenarios: in process, over port links, across the overlay. */
export async function forwardingScenarios(): Promise<Result[]> {
  return [await local(), await portLinks(), await overlay()];
}
