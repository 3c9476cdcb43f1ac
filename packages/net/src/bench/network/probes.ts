/**
 * The measurements, the same for both machines: from a network namespace to a guest's services
 * (discard on 9, a source of zeros on 5001, see guests/linux/README.md), and from one guest to
 * another through its serial console with BusyBox's nc, dd and ping.
 */
import { execFile, spawn } from "node:child_process";
import { setTimeout as sleep } from "node:timers/promises";
import { promisify } from "node:util";
import {
  type HopStall,
  mbps,
  type NetworkFigure,
  netstatCounter,
  parseTimedRead,
  pingRtts,
  rttFigures,
  StallMeter,
} from "./figures.js";

const run = promisify(execFile);

/** A guest's serial console: what it printed so far, and typing into it. */
export interface GuestShell {
  readonly text: string;
  type(s: string): void;
}

export interface Guest {
  readonly name: string;
  readonly ipv4: string;
  readonly shell: GuestShell;
  /** Instructions the guest retired so far, where the machine tells (Skiff's VMM, about once a second). */
  instret?(): Promise<number>;
}

const DISCARD_PORT = 9;
const ZEROS_PORT = 5001;

/**
 * Runs in the namespace: connects to <ip>:<port>, then either writes (send) or reads (receive)
 * for <seconds>. A sender ends its half and waits for the guest's close: the discard service
 * closes once dd has read everything, so the time counts bytes received, not bytes buffered.
 * Prints `<bytes> <seconds>`.
 */
const TCP_PROBE = `
import { connect } from "node:net";
const [mode, ip, port, seconds] = process.argv.slice(1);
const socket = connect({ host: ip, port: Number(port) });
let bytes = 0;
let start = 0;
const done = () => {
  console.log(bytes + " " + (Number(process.hrtime.bigint() - start) / 1e9));
  process.exit(0);
};
socket.on("error", (err) => { console.error(err.message); process.exit(1); });
socket.on("connect", () => {
  start = process.hrtime.bigint();
  const end = start + BigInt(Math.round(Number(seconds) * 1e9));
  if (mode === "receive") {
    socket.on("data", (b) => {
      bytes += b.length;
      if (process.hrtime.bigint() >= end) { socket.destroy(); done(); }
    });
    return;
  }
  const chunk = Buffer.alloc(64 * 1024);
  socket.on("close", done);
  const fill = () => {
    while (process.hrtime.bigint() < end) {
      bytes += chunk.length;
      if (!socket.write(chunk)) return socket.once("drain", fill);
    }
    socket.end();
  };
  fill();
});
`;

/** Throughput, and where the guest reports it, its instructions per KiB carried: its CPU's cost, whatever the load. */
async function tcpProbe(
  ns: string,
  mode: "send" | "receive",
  guest: Guest,
  seconds: number,
): Promise<Pick<NetworkFigure, "mbps" | "guestInstrPerKiB">> {
  const port = mode === "send" ? DISCARD_PORT : ZEROS_PORT;
  const before = await guest.instret?.();
  const { stdout } = await run(
    "ip",
    [
      "netns",
      "exec",
      ns,
      process.execPath,
      "--input-type=module",
      "-e",
      TCP_PROBE,
      mode,
      guest.ipv4,
      `${port}`,
      `${seconds}`,
    ],
    { timeout: (seconds + 60) * 1000 },
  );
  const [bytes, secs] = stdout.trim().split(" ").map(Number);
  if (before === undefined) return { mbps: mbps(bytes!, secs!) };
  // The VMM's count lags by up to a second or two: wait until it covers the transfer.
  await sleep(2500);
  const after = await guest.instret!();
  return { mbps: mbps(bytes!, secs!), guestInstrPerKiB: Math.round((after - before) / (bytes! / 1024)) };
}

/** ping from the namespace: `count` echo requests `intervalS` apart. */
async function nsPing(ns: string, guest: Guest, count: number, intervalS = 0.02): Promise<number[]> {
  const { stdout } = await run("ip", [
    "netns",
    "exec",
    ns,
    "ping",
    "-n",
    "-c",
    `${count}`,
    "-i",
    `${intervalS}`,
    "-W",
    "2",
    guest.ipv4,
  ]);
  return pingRtts(stdout);
}

/** Throughput from the namespace into the guest, with the RTT of pings from the namespace. */
export async function hostToGuest(ns: string, guest: Guest, seconds: number, pings: number) {
  const rtts = await nsPing(ns, guest, pings);
  return { ...(await tcpProbe(ns, "send", guest, seconds)), ...rttFigures(rtts) };
}

export async function guestToHost(ns: string, guest: Guest, seconds: number) {
  return { ...(await tcpProbe(ns, "receive", guest, seconds)), rttP50Ms: null, rttP99Ms: null };
}

/** What the shell prints from now on (after what it printed so far). */
function tail(shell: GuestShell) {
  const from = shell.text.length;
  return () => shell.text.slice(from);
}

async function waitForOutput<T>(
  shell: GuestShell,
  what: string,
  output: () => string,
  parse: (s: string) => T | undefined,
  timeoutMs: number,
): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = parse(output());
    if (value !== undefined) return value;
    if (Date.now() > deadline) {
      throw new Error(`${what}: no answer in ${timeoutMs} ms; console:\n${shell.text.slice(-1500)}`);
    }
    await sleep(100);
  }
}

/**
 * Waits until the guest's boot-time work is done: its SSH server first makes a host key (seconds
 * of guest CPU), and a transfer measured meanwhile shares the guest's CPU with it.
 */
export async function bootSettled(guest: Guest, timeoutMs: number): Promise<void> {
  const output = tail(guest.shell);
  // The echo of this line shows the sum unevaluated: only its output matches.
  guest.shell.type('ash -c "until pidof dropbear >/dev/null; do sleep 1; done; echo sshd-$((6*7))-up"\n');
  const up = (s: string) => (s.includes("sshd-42-up") ? true : undefined);
  await waitForOutput(guest.shell, `${guest.name}: SSH server up`, output, up, timeoutMs);
}

/** `from` reads `blocks` whole 64 KiB blocks from `to`'s source of zeros with nc into dd, timed by `from`. */
async function guestReads(from: Guest, to: Guest, blocks: number, timeoutMs: number) {
  const output = tail(from.shell);
  from.shell.type(
    `ash -c "cat /proc/uptime; nc ${to.ipv4} ${ZEROS_PORT} | dd of=/dev/null bs=64k count=${blocks} iflag=fullblock; cat /proc/uptime"\n`,
  );
  return waitForOutput(from.shell, `${from.name} reading from ${to.name}`, output, parseTimedRead, timeoutMs);
}

/** ping from one guest to another: BusyBox ping, `count` requests a second apart (its -i takes whole seconds). */
async function guestPing(from: Guest, to: Guest, count: number): Promise<number[]> {
  const output = tail(from.shell);
  from.shell.type(`ping -c ${count} ${to.ipv4}\n`);
  const text = await waitForOutput(
    from.shell,
    `ping ${from.name} → ${to.name}`,
    output,
    (s) => (/packet loss/.test(s) ? s : undefined),
    (count + 30) * 1000,
  );
  return pingRtts(text);
}

/**
 * Guest to guest: a short read sizes the measured one to about `seconds` (the rate differs by
 * orders of magnitude between the machines), then ping RTTs between the two.
 */
export async function guestToGuest(
  from: Guest,
  to: Guest,
  seconds: number,
  pings: number,
): Promise<Pick<NetworkFigure, "mbps" | "rttP50Ms" | "rttP99Ms">> {
  const probe = await guestReads(from, to, 16, 120_000);
  const blocksPerSecond = probe.bytes / 65536 / Math.max(probe.seconds, 0.01);
  const blocks = Math.max(16, Math.round(blocksPerSecond * seconds));
  const measured = await guestReads(from, to, blocks, (seconds * 10 + 60) * 1000);
  const rtts = await guestPing(from, to, pings);
  return { mbps: mbps(measured.bytes, measured.seconds), ...rttFigures(rtts) };
}

const ECHO_PORT = 7;

/** The namespace's TCP retransmission timeouts and DSACKs so far (only the bench's own connections live there). */
async function tcpRetransmits(ns: string): Promise<{ rtos: number; dsacks: number }> {
  const { stdout } = await run("ip", ["netns", "exec", ns, "cat", "/proc/net/netstat"]);
  return {
    rtos: netstatCounter(stdout, "TcpExt", "TCPTimeouts"),
    dsacks: netstatCounter(stdout, "TcpExt", "TCPDSACKRecv"),
  };
}

/**
 * A TCP connection from the namespace to the guest's echo service (socat), fed numbered lines
 * every 10 ms whatever happens to the guest, while `migrate` moves the guest `hops` times. Per hop:
 * the longest gap between echoes from just before the hop until the echo has flowed again for a
 * second, beside the hop's downtime, and the longest from the source's pause on (what is left is
 * the pre-copy's); and first, the longest gap over `baselineS` seconds with no migration (what the
 * host's load alone does to the stream). At the end every byte must have come back, in order, and
 * the connection must not have ended (a reset or socat's timeout counts as one).
 */
export async function streamAcrossMigrations(
  ns: string,
  guest: Guest,
  hops: number,
  /** Moves the guest, calls `paused` when the source pauses it, resolves with the downtime. */
  migrate: (paused: () => void) => Promise<number>,
  baselineS = 5,
): Promise<{ hops: HopStall[]; baselineGapMs: number; resets: number; intact: boolean }> {
  const conn = spawn("ip", ["netns", "exec", ns, "socat", "-T", "60", "-", `TCP:${guest.ipv4}:${ECHO_PORT}`]);
  const meter = new StallMeter();
  const back: Buffer[] = [];
  let backBytes = 0;
  let ended = false;
  conn.stdout.on("data", (b: Buffer) => {
    meter.arrived(performance.now());
    back.push(b);
    backBytes += b.length;
  });
  conn.stderr.resume();
  conn.on("exit", () => {
    ended = true;
  });
  const sent: Buffer[] = [];
  let sentBytes = 0;
  let line = 0;
  const writer = setInterval(() => {
    for (let i = 0; i < 4; i++) {
      const b = Buffer.from(`${String(line++).padStart(8, "0")} skiff keeps this connection\n`);
      sent.push(b);
      sentBytes += b.length;
      conn.stdin.write(b);
    }
  }, 10);
  const flowed = async (what: string, past: number) => {
    for (const deadline = Date.now() + 60_000; backBytes <= past; await sleep(20)) {
      if (ended || Date.now() > deadline)
        throw new Error(`echo stream: ${what}: ${ended ? "ended" : "stalled"}`);
    }
  };
  const stalls: HopStall[] = [];
  let baselineGapMs = Number.NaN;
  try {
    await flowed("before the first hop", 0);
    meter.takeLongest();
    await sleep(baselineS * 1000);
    baselineGapMs = Math.round(meter.takeLongest());
    for (let i = 0; i < hops; i++) {
      meter.takeLongest();
      const before = await tcpRetransmits(ns);
      let beforePauseMs: number | undefined;
      const downtimeMs = await migrate(() => {
        beforePauseMs = meter.takeLongest();
      });
      await flowed(`after hop ${i + 1}`, backBytes + 2000);
      await sleep(1000);
      const fromPauseMs = Math.round(meter.takeLongest());
      const after = await tcpRetransmits(ns);
      stalls.push({
        downtimeMs,
        stallMs: Math.max(fromPauseMs, Math.round(beforePauseMs ?? 0)),
        ...(beforePauseMs === undefined ? {} : { fromPauseMs }),
        rtos: after.rtos - before.rtos,
        dsacks: after.dsacks - before.dsacks,
      });
    }
  } finally {
    clearInterval(writer);
  }
  for (const deadline = Date.now() + 30_000; backBytes < sentBytes && !ended && Date.now() < deadline; ) {
    await sleep(50);
  }
  const resets = ended ? 1 : 0;
  conn.kill();
  return { hops: stalls, baselineGapMs, resets, intact: Buffer.concat(back).equals(Buffer.concat(sent)) };
}
