import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { MessageChannel, receiveMessageOnPort, Worker } from "node:worker_threads";
import { createLogger } from "@skiff/common";
import { afterAll, afterEach, describe, expect, it } from "vitest";
import { NicThread } from "./nic-thread.js";
import { type FramesForGuest, type FromGuestNic, WAKE } from "./vcpu-messages.js";

// The NIC thread runs from the build (the package's test setup compiles it first).
const NIC_WORKER = new URL("../../dist/vmm/nic-worker.js", import.meta.url);
const FRAMES = 200;
/** Words of the switch stand-in's flags: GO (start sending), ECHOED (frames back in order). */
const GO = 0;
const ECHOED = 1;
/** A frame number the switch stand-in takes as a probe that the link is up. */
const PING = 5000;

/**
 * The node switch's end of the port link, in a thread of its own (the test's main thread plays
 * the VMM's, and blocks): answers Hold with Held behind `onHold` frames, sends FRAMES numbered
 * frames once GO is set, counts the echoes that come back in order, and reports what it read
 * once it has read as many signals and frames as asked.
 */
const SWITCH = `
const { workerData, parentPort } = require("node:worker_threads");
const net = require("node:net");
const flags = new Int32Array(workerData.flags);
const frame = (n) => { const f = Buffer.alloc(60); f.writeUInt32BE(n, 14); return f; };
const wire = (f) => Buffer.concat([Buffer.from([f.length >> 8, f.length & 255]), f]);
const seen = [];
let want = Infinity;
let pinged = false;
const report = () => {
  if (seen.length < want) return;
  want = Infinity;
  parentPort.postMessage(seen);
};
parentPort.on("message", (n) => {
  want = n;
  report();
});
net.createServer((sock) => {
  let buf = Buffer.alloc(0);
  sock.on("data", (chunk) => {
    buf = Buffer.concat([buf, chunk]);
    while (buf.length >= 3) {
      const len = buf.readUInt16BE(0);
      if (len === 0) {
        const signal = buf[2];
        seen.push("signal " + signal);
        report();
        if (signal === 1) {
          for (let i = 0; i < workerData.onHold; i++) sock.write(wire(frame(1000 + i)));
          sock.write(Buffer.from([0, 0, 2]));
        }
        buf = buf.subarray(3);
        continue;
      }
      if (buf.length < 2 + len) break;
      const n = buf.readUInt32BE(2 + 14);
      buf = buf.subarray(2 + len);
      if (n === ${PING}) {
        // The test's probe that the NIC thread's link is up: said once, never counted.
        if (!pinged) parentPort.postMessage("pinged");
        pinged = true;
        continue;
      }
      seen.push("frame " + n);
      report();
      if (n === Atomics.load(flags, ${ECHOED})) {
        Atomics.add(flags, ${ECHOED}, 1);
        Atomics.notify(flags, ${ECHOED});
      }
    }
  });
  Atomics.waitAsync(flags, ${GO}, 0).value.then(() => {
    for (let n = 0; n < ${FRAMES}; n++) sock.write(wire(frame(n)));
  });
  parentPort.postMessage("connected");
}).listen(workerData.path, () => parentPort.postMessage("listening"));
`;

/** The vCPU's part: sleeps on the wake word with no timeout (as in WFI) and sends back what it gets. */
const ECHO_GUEST = `
const { workerData, receiveMessageOnPort } = require("node:worker_threads");
const wake = new Int32Array(workerData.wake);
for (;;) {
  const seq = Atomics.load(wake, ${WAKE});
  for (let got = receiveMessageOnPort(workerData.port); got; got = receiveMessageOnPort(workerData.port)) {
    const frames = got.message.frames;
    workerData.port.postMessage({ t: "tx", frames }, frames.map((f) => f.buffer));
  }
  Atomics.wait(wake, ${WAKE}, seq);
}
`;

const tmp = mkdtempSync(join(tmpdir(), "skiff-nic-"));
const cleanup: (() => Promise<unknown>)[] = [];
afterEach(async () => {
  for (const c of cleanup.splice(0).reverse()) await c();
});
afterAll(() => rmSync(tmp, { recursive: true, force: true }));

function nextMessage(w: Worker): Promise<unknown> {
  return new Promise((resolve) => w.once("message", resolve));
}

/** A switch stand-in listening, and a NIC thread linked to it; `guest` is the vCPU's end. */
async function linked(name: string, onHold: number) {
  const flags = new Int32Array(new SharedArrayBuffer(8));
  const path = join(tmp, `${name}.sock`);
  const sw = new Worker(SWITCH, { eval: true, workerData: { path, flags: flags.buffer, onHold } });
  cleanup.push(() => sw.terminate());
  expect(await nextMessage(sw)).toBe("listening");
  const wake = new SharedArrayBuffer(16);
  const { port1: guest, port2 } = new MessageChannel();
  const connected = nextMessage(sw);
  const nic = new NicThread(path, port2, wake, createLogger("nic-test", "silent"), {
    workerUrl: NIC_WORKER,
    // The verdict must not hang on how soon the switch's thread gets a core.
    holdWaitMs: 60_000,
  });
  cleanup.push(() => nic.close());
  expect(await connected).toBe("connected");
  const seen = async (count: number): Promise<string[]> => {
    const answer = nextMessage(sw);
    sw.postMessage(count);
    return (await answer) as string[];
  };
  /**
   * The switch's accept comes before the NIC thread's side of the connect completes, and a hold
   * asked for before that has no link to hold: probe until a frame from the guest gets through.
   */
  const linkUp = async () => {
    const ping = new Uint8Array(60);
    new DataView(ping.buffer).setUint32(14, PING);
    const pinged = nextMessage(sw);
    const timer = setInterval(() => guest.postMessage({ t: "tx", frames: [ping.slice()] }), 10);
    try {
      expect(await pinged).toBe("pinged");
    } finally {
      clearInterval(timer);
    }
  };
  return { flags, wake, guest, nic, seen, linkUp };
}

describe("the VMM's NIC thread", () => {
  it("carries frames between the switch and the vCPU while the VMM's main thread is blocked", async () => {
    const { flags, wake, guest } = await linked("flow", 0);
    const echo = new Worker(ECHO_GUEST, {
      eval: true,
      workerData: { port: guest, wake },
      transferList: [guest],
    });
    cleanup.push(() => echo.terminate());
    Atomics.store(flags, GO, 1);
    Atomics.notify(flags, GO);
    // This thread (the VMM's main one) now serves nothing until every frame has come back.
    const deadline = Date.now() + 30_000;
    while (Atomics.load(flags, ECHOED) < FRAMES && Date.now() < deadline) {
      Atomics.wait(flags, ECHOED, Atomics.load(flags, ECHOED), deadline - Date.now());
    }
    expect(Atomics.load(flags, ECHOED)).toBe(FRAMES);
  });

  it("holds with the frames sent before the switch's answer already on the vCPU's port, and claims ahead of the guest's frames", async () => {
    const { guest, nic, seen, linkUp } = await linked("hold", 3);
    await linkUp();
    await nic.hold();
    const before: number[] = [];
    for (let got = receiveMessageOnPort(guest); got !== undefined; got = receiveMessageOnPort(guest)) {
      for (const f of (got.message as FramesForGuest).frames) before.push(Buffer.from(f).readUInt32BE(14));
    }
    expect(before).toEqual([1000, 1001, 1002]);

    const out = (msg: FromGuestNic) => guest.postMessage(msg);
    out({ t: "claim" });
    const f = new Uint8Array(60);
    f[17] = 7;
    out({ t: "tx", frames: [f, new Uint8Array(0)] }); // the empty one cannot be carried: dropped
    expect(await seen(3)).toEqual(["signal 1", "signal 4", "frame 7"]);
  });
});
