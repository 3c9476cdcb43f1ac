/**
 * The NIC thread of a VMM: owns the port link to the node switch and exchanges frames with the
 * vCPU worker directly, so the main thread (control socket, a migration's RAM stream) is never on
 * the frame path. It does nothing else, so its event loop serves the link as soon as it gets a core.
 */
import { type MessagePort, parentPort, workerData } from "node:worker_threads";
import { createLogger } from "@skiff/common";
import { NicLink } from "./nic-link.js";
import type { NicWorkerData, ToNicThread } from "./nic-thread.js";
import { type FramesForGuest, type FromGuestNic, WAKE } from "./vcpu-messages.js";

const data = workerData as NicWorkerData & { guest: MessagePort };
const toMain = parentPort;
if (toMain === null) throw new Error("nic-worker must run in a worker thread");
const wake = new Int32Array(data.wake);
const log = createLogger(data.logName, data.logLevel);

const link = new NicLink(
  data.path,
  (frames) => {
    const msg: FramesForGuest = { frames };
    data.guest.postMessage(
      msg,
      frames.map((f) => f.buffer as ArrayBuffer),
    );
    Atomics.add(wake, WAKE, 1);
    Atomics.notify(wake, WAKE);
  },
  log,
  data.holdWaitMs,
);

data.guest.on("message", (msg: FromGuestNic) => {
  if (msg.t === "claim") link.claim();
  else for (const f of msg.frames) link.send(f);
});

toMain.on("message", (msg: ToNicThread) => {
  switch (msg.t) {
    case "hold":
      void link.hold().then(() => toMain.postMessage({ t: "held", id: msg.id }));
      break;
    case "resume":
      link.resume();
      break;
    case "close":
      void link.close().finally(() => {
        data.guest.close();
        toMain.postMessage({ t: "closed" });
      });
      break;
  }
});
