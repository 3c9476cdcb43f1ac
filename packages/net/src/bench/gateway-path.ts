import { execFile } from "node:child_process";
import { randomBytes } from "node:crypto";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { promisify } from "node:util";
import { createLogger } from "@skiff/common";
import { Gateway } from "../gateway/gateway.js";
import { gatewayUnavailableReason } from "../gateway/netns.js";
import type { NetworkMap } from "../map.js";
import { VxlanTransport } from "../overlay/vxlan-transport.js";
import { NodeSwitch } from "../switch/node-switch.js";
import { echoVm } from "./echo-vm.js";
import { SECONDS } from "./forwarding.js";
import { type Result, result } from "./result.js";

const run = promisify(execFile);
const VM = { vpsId: "a", mac: "02:00:00:00:00:0a", ipv4: "10.1.0.10" };
const PINGS = 200;

/** Sends UDP datagrams that fill a 1514-byte frame for SECONDS; prints how many went out. */
const SENDER = `
import { createSocket } from "node:dgram";
const socket = createSocket("udp4");
const payload = Buffer.alloc(1472, 0x5a);
const end = Date.now() + Number(process.argv[2]) * 1000;
let sent = 0;
// A window of sends per turn: the TAP's queue (1000 frames) is the buffer, not the socket's.
const tick = () => {
  if (Date.now() >= end) return setTimeout(() => { console.log(sent); socket.close(); }, 100);
  let pending = 64;
  for (let i = 0; i < 64; i++) socket.send(payload, 9, process.argv[1], () => { sent++; if (--pending === 0) setImmediate(tick); });
};
tick();
`;

/**
 * The path a client in the gateway's namespace takes to a VM: the namespace's kernel, the TAP,
 * socat, the gateway's switch, the overlay, the node's switch, the VM's port. Needs root and
 * network namespaces; returns no scenario (and says why) where they are missing.
 */
export async function gatewayScenarios(log: (line: string) => void): Promise<Result[]> {
  const unavailable = await gatewayUnavailableReason();
  if (unavailable) {
    log(`gateway scenarios skipped: ${unavailable}`);
    return [];
  }
  const ns = `skiff-bench-${randomBytes(3).toString("hex")}`;
  const stateDir = mkdtempSync(join(tmpdir(), "skiff-net-bench-"));
  const gateway = await Gateway.start({ netns: ns, stateDir, logger: createLogger("net-bench", "warn") });
  const transport = await VxlanTransport.bind();
  try {
    const node = new NodeSwitch({ nodeId: "n1", overlay: transport });
    const map: NetworkMap = {
      version: 1,
      networks: [
        {
          id: "net1",
          vni: 101,
          cidr: "10.1.0.0/24",
          gateway: { ipv4: "10.1.0.1", mac: "02:00:00:01:00:01" },
        },
      ],
      ports: [{ ...VM, networkId: "net1", node: "n1", hostname: "a" }],
      nodes: [{ id: "n1", ...transport.address }, gateway.endpoint],
      gatewayNode: gateway.nodeId,
    };
    await gateway.setMap(map);
    node.setMap(map);
    const vm = echoVm(VM.mac, VM.ipv4, (frame) => port.input(frame), false);
    const port = node.attach("a", vm.output);

    const ping = await run("ip", [
      "netns",
      "exec",
      ns,
      "ping",
      "-c",
      `${PINGS}`,
      "-i",
      "0.005",
      "-W",
      "2",
      VM.ipv4,
    ]);
    const rtts = [...ping.stdout.matchAll(/time=([\d.]+) ms/g)]
      .map((m) => Number(m[1]))
      .sort((a, b) => a - b);
    const at = (q: number) => rtts[Math.min(rtts.length - 1, Math.floor(q * rtts.length))] ?? Number.NaN;
    const pingResult: Result = {
      name: "ping: namespace → gateway → overlay → VM",
      frames: rtts.length,
      seconds: 0,
      framesPerSecond: 0,
      mbps: 0,
      lost: PINGS - rtts.length,
      rttP50Ms: at(0.5),
      rttP99Ms: at(0.99),
    };

    const before = vm.stats.frames;
    const started = process.hrtime.bigint();
    const sender = await run("ip", [
      "netns",
      "exec",
      ns,
      process.execPath,
      "--input-type=module",
      "-e",
      SENDER,
      VM.ipv4,
      `${SECONDS}`,
    ]);
    const seconds = Number(process.hrtime.bigint() - started) / 1e9;
    const sent = Number(sender.stdout.trim());
    const flood = result(
      "UDP flood, unpaced: namespace → gateway → overlay → VM",
      sent,
      vm.stats.frames - before,
      seconds,
    );
    return [pingResult, flood];
  } finally {
    await gateway.stop();
    await transport.close();
    rmSync(stateDir, { recursive: true, force: true });
  }
}
