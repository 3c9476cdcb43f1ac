/**
 * The vCPU thread of a VMM: runs the guest in slices, sleeps on the shared wake word when the guest
 * idles (WFI) or is paused, and answers the main thread between slices. A blocked Atomics.wait costs
 * no CPU, which is what lets one host hold many idle VMs.
 */
import { renameSync } from "node:fs";
import { type MessagePort, parentPort, receiveMessageOnPort, workerData } from "node:worker_threads";
import { DirtyBitmap, type ExitReason, Machine, type NetBackend, type StateRecord } from "@skiff/hv-core";
import { CommitWord } from "./commit-word.js";
import { blankGuest, bootGuest, restoreGuest, restoreGuestFile } from "./guest.js";
import { raiseForMigration, raiseForPause } from "./migrate-priority.js";
import {
  type FramesForGuest,
  type FromGuestNic,
  type FromVcpu,
  type GuestEnd,
  type StagedRecord,
  type ToVcpu,
  type VcpuWorkerData,
  WAKE,
} from "./vcpu-messages.js";

const SLICE_TARGET_MS = 20;
const MIN_BUDGET = 10_000;
const MAX_BUDGET = 20_000_000;
const STATS_EVERY_MS = 1000;
/** An idle guest with no timer armed still wakes this often, to report stats. */
const MAX_IDLE_WAIT_MS = 1000;

/** Host clock once this thread's modules are loaded (its module body starts here). */
const loadedAtMs = performance.timeOrigin + performance.now();

// This thread transfers buffers (console output, frames), which detaches them, and V8 then drops
// all code compiled on the promise that no ArrayBuffer is ever detached (a "protector"): the
// interpreter's loop, compiled during the machine's warm-up, was thrown away at the guest's first
// console output and compiled again (~10 % of a boot's CPU to the prompt). One detached now, before
// the machine exists, and the loop is compiled once.
{
  const scratch = new ArrayBuffer(1);
  structuredClone(scratch, { transfer: [scratch] });
}
const data = workerData as VcpuWorkerData & { port: MessagePort };
const port = data.port;
const ctl = new Int32Array(data.control);
const toMain = parentPort;
if (toMain === null) throw new Error("vcpu-worker must run in a worker thread");

/** The host clock the migration's pause is stamped with on both ends (see @skiff/migration). */
const wallMs = (): number => performance.timeOrigin + performance.now();

function post(msg: FromVcpu, transfer: ArrayBuffer[] = []): void {
  toMain?.postMessage(msg, transfer);
}

/**
 * Console output is paced like a serial line (a fast one): CONSOLE_BYTES_PER_MS sustained, in
 * bursts of up to CONSOLE_BURST_BYTES; a guest past its rate waits, as for a busy transmitter.
 * Every byte costs the host outside the guest's CPU share (copies here, the console log and each
 * viewer on the main thread): unpaced, a 1 MiB firmware guest looping on HTIF write (1 MiB a
 * call) took its VMM past 400 MiB and up to a whole core while capped at a quarter of one.
 */
const CONSOLE_BYTES_PER_MS = (1024 * 1024) / 1000;
const CONSOLE_BURST_BYTES = 256 * 1024;
/**
 * In Linux mode a console byte costs the guest an instruction at least (UART store, SBI
 * putchar), so a run of `credit` instructions cannot write much past the credit. A firmware
 * guest's HTIF write sends up to 1 MiB per poll, and hv-core polls HTIF once per 20 000
 * instructions: a firmware run is one poll long at most.
 */
const FIRMWARE_MAX_BUDGET = 20_000;
const maxBudget = data.spec.bootMode === "firmware" ? FIRMWARE_MAX_BUDGET : MAX_BUDGET;
let outputBytes = 0;
let outputCredit = CONSOLE_BURST_BYTES;
let outputCreditAt = performance.now();

let pending: Uint8Array[] = [];
function wire(m: Machine): Machine {
  // The machine may reuse its buffer: keep a copy.
  m.onConsoleOutput = (bytes) => {
    pending.push(bytes.slice());
    outputBytes += bytes.length;
  };
  return m;
}

/** The console credit at `now`: refilled at the line rate (at most a burst), less what was written since. */
function chargeOutput(now: number): number {
  outputCredit =
    Math.min(CONSOLE_BURST_BYTES, outputCredit + (now - outputCreditAt) * CONSOLE_BYTES_PER_MS) - outputBytes;
  outputBytes = 0;
  outputCreditAt = now;
  return outputCredit;
}
function flushOutput(): void {
  if (pending.length === 0) return;
  const bytes = pending.length === 1 ? pending[0]! : Buffer.concat(pending);
  pending = [];
  const own = new Uint8Array(bytes);
  post({ t: "output", bytes: own }, [own.buffer as ArrayBuffer]);
}

/**
 * The guest's NIC, when it has one. This thread never returns to its event loop while the guest
 * runs, so the link to the node switch lives on the VMM's NIC thread (nic-worker.ts), which posts
 * frames for the guest on `nicPort` and bumps the wake word: they are handed to the device between
 * slices (never while the machine runs), all those of one drain together: the device merges a
 * flow's neighbouring TCP segments, and the guest takes them in one interrupt. Frames the guest
 * sends go to the NIC thread after each slice (the first after a quiet spell at once). Neither way
 * crosses the main thread, which a migration keeps busy streaming RAM.
 */
const nicPort = data.nic;
let txFrames: Uint8Array[] = [];
let deliverFrames: ((frames: readonly Uint8Array[]) => number) | undefined;
let rxFrames: Uint8Array[] = [];
/**
 * A frame sent this long after the one before it is posted to the NIC thread at once. Long enough
 * that a stream's frames (its ACKs too) keep going one message a slice: each early post costs a
 * wake-up of the NIC thread and the agent.
 */
const TX_QUIET_MS = 10;
let lastTxMs = Number.NEGATIVE_INFINITY;
const net: NetBackend | undefined = nicPort
  ? {
      send(frame) {
        txFrames.push(frame.slice()); // the device reuses its buffer
        // The first frame after a quiet spell (a ping's reply, a request) goes at once rather
        // than when the slice ends (the guest runs on to its WFI first, ~0.15 ms); frames of a
        // busy sender still go together, one message a slice.
        const now = performance.now();
        if (now - lastTxMs >= TX_QUIET_MS) flushTx();
        lastTxMs = now;
      },
      onFrame(deliver) {
        deliverFrames = deliver;
      },
    }
  : undefined;
function toNic(msg: FromGuestNic, transfer: ArrayBuffer[] = []): void {
  nicPort?.postMessage(msg, transfer);
}
function flushTx(): void {
  if (txFrames.length === 0) return;
  const frames = txFrames;
  txFrames = [];
  toNic(
    { t: "tx", frames },
    frames.map((f) => f.buffer as ArrayBuffer),
  );
}
/** Takes the frames the NIC thread posted; a paused guest's (or one not running yet) are dropped. */
function takeRx(keep: boolean): void {
  if (!nicPort) return;
  for (let got = receiveMessageOnPort(nicPort); got !== undefined; got = receiveMessageOnPort(nicPort)) {
    if (keep) rxFrames.push(...(got.message as FramesForGuest).frames);
  }
}

/**
 * A frame the guest sent, or a message (a frame for it, a command), ends a slice once it has run
 * YIELD_AFTER_MS: a busy guest's frames then wait about a millisecond each way, not the slice's
 * 20, and still go in batches (each batch in costs the guest an interrupt, and its GRO merges
 * only what one interrupt brings).
 */
const YIELD_AFTER_MS = 1;
let sliceSeq = 0;
let sliceStart = 0;
let yielded = false;
function yieldNow(): boolean {
  yielded =
    (txFrames.length > 0 || Atomics.load(ctl, WAKE) !== sliceSeq) &&
    performance.now() - sliceStart >= YIELD_AFTER_MS;
  return yielded;
}

function zero(buf: SharedArrayBuffer): void {
  new Uint8Array(buf).fill(0);
}

/** A new SharedArrayBuffer is already zero; only a reboot must clear (and so touch) the RAM. */
function fresh(clear: boolean): Machine {
  if (clear) {
    zero(data.memory.ram);
    // Every page changed (most to zero): a live migration running now must send them all again.
    new DirtyBitmap(data.spec.memoryBytes / 4096, data.memory.dirty).markAll();
  }
  return wire(bootGuest(data.spec, data.memory, net));
}

/** How long a restored incoming vCPU watches the commit word before it sleeps. */
const RESTORED_SPIN_MS = 15;

/** Busy-waits (bounded) while the commit word is still open (neither allowed nor refused). */
function spinWhileOpen(word: CommitWord, ms: number): void {
  const until = performance.now() + ms;
  while (word.state === "open" && performance.now() < until);
}

/** An incoming or restored guest's vCPU drops back to the VMM's priority after its first slice. */
let lowerAfterStart: (() => void) | undefined;
/** A migration's pause raised this thread until the guest resumes (a rollback) or the VMM goes. */
let lowerAfterPause: (() => void) | undefined;

/**
 * A live-migration target: sleep until the main thread sends the device state (RAM is already in
 * place, written by the migration receiver), restore it while the main thread verifies the
 * migration, then make the commit point here as soon as the commit word allows it (commit-word.ts)
 * and run. This thread starts before the stream does, and builds the machine before the pause
 * (`build`): the downtime includes only copying the state into it.
 */
function awaitIncoming(): Machine | undefined {
  // Waiting costs nothing; restoring and the first instruction are the migration's pause.
  lowerAfterStart = raiseForPause();
  // Compile the restore path now, not in the pause (a cold restore took 30-60 ms, a warm one 1).
  Machine.warmRestore(data.spec.bootMode === "firmware" ? "firmware" : "hypervisor", {
    withNic: net !== undefined,
  });
  post({ t: "waiting" });
  const word = new CommitWord(ctl);
  let prepared: Machine | undefined;
  let restored: { machine: Machine; record: StagedRecord } | undefined;
  for (;;) {
    const seq = Atomics.load(ctl, WAKE);
    // No guest here yet to take a frame (the switch keeps the port away until the claim).
    takeRx(false);
    for (let got = receiveMessageOnPort(port); got !== undefined; got = receiveMessageOnPort(port)) {
      const msg = got.message as ToVcpu;
      if (msg.t === "exit") return undefined;
      if (msg.t === "build" && !prepared && !restored) {
        prepared = build(msg.diskDirty);
      } else if (msg.t === "restore" && !restored) {
        if (msg.diskDirty) data.memory.diskDirty = msg.diskDirty;
        try {
          restored = { machine: restoreIncoming(msg.snapshot, prepared), record: msg.record };
          prepared = undefined;
          post({ t: "restored", id: msg.id, error: "", atMs: wallMs() });
          // The commit is allowed within milliseconds (the commit record is right behind the
          // state): watch for it awake rather than pay a wake-up in the pause.
          spinWhileOpen(word, RESTORED_SPIN_MS);
        } catch (err) {
          prepared = undefined;
          word.fail();
          post({ t: "restored", id: msg.id, error: (err as Error).message || String(err), atMs: wallMs() });
        }
      }
    }
    if (restored && word.take()) {
      if (commitIncoming(word, restored.record)) return restored.machine;
      restored = undefined; // nothing committed: wait for the main thread's exit
    }
    Atomics.wait(ctl, WAKE, seq, MAX_IDLE_WAIT_MS);
  }
}

/**
 * THE COMMIT POINT of an incoming migration, on this thread: the staged record renamed into
 * place; from here the VM is this node's and its guest runs. A rename that fails commits nothing
 * (the source resumes).
 */
function commitIncoming(word: CommitWord, record: StagedRecord): boolean {
  try {
    renameSync(record.staged, record.path);
  } catch (err) {
    word.settle(false);
    post({ t: "committed", error: `the record: ${(err as Error).message}`, atMs: wallMs() });
    return false;
  }
  word.settle(true);
  const atMs = wallMs();
  // The port is here from the first instruction on, in band ahead of every frame the guest
  // sends (the agent's claim at the commit is the fallback).
  toNic({ t: "claim" });
  post({ t: "committed", error: "", atMs });
  return true;
}

/**
 * The machine an incoming state goes into, built with the VM's disk (and the restore path warmed
 * on it: opening a disk and virtio-blk's restore are not in the first warm-up). A machine that
 * cannot be built here is built at the restore, where its error counts.
 */
function build(diskDirty: SharedArrayBuffer | undefined): Machine | undefined {
  if (diskDirty) data.memory.diskDirty = diskDirty;
  let m: Machine;
  try {
    m = blankGuest(data.spec, data.memory, net);
  } catch {
    return undefined;
  }
  try {
    Machine.warmRestore(m.spec.mode, { withNic: m.spec.net !== null, disks: m.spec.disks });
  } catch {
    // only a warm-up: the restore runs all the same, slower
  }
  return m;
}

/** Restores into the prepared machine, or into a new one when there is none or it does not fit. */
function restoreIncoming(snapshot: Uint8Array, prepared: Machine | undefined): Machine {
  if (prepared) {
    try {
      prepared.restoreInto(snapshot);
      return prepared;
    } catch (err) {
      prepared.close();
      if ((err as { code?: string }).code !== "SNAPSHOT_MISMATCH") throw err;
    }
  }
  return restoreGuest(snapshot, data.memory, data.spec, net);
}

const buildStart = performance.now();
// A restore from a suspend is waited for like a migration's pause (the guest is down until it
// runs): it reads and restores at the migration's priority, back to the VMM's after one slice.
if (data.restorePath) lowerAfterStart = raiseForMigration();
const first = data.incoming
  ? awaitIncoming()
  : data.restorePath
    ? await restoreGuestFile(data.restorePath, data.memory, data.spec, net)
    : fresh(false);
if (first === undefined) process.exit(0);
let machine: Machine = wire(first);
post({
  t: "ready",
  instret: Number(machine.instret),
  atMs: wallMs(),
  workerLoadedAtMs: loadedAtMs,
  buildMs: data.incoming ? 0 : performance.now() - buildStart,
});

let paused = false;
/** Guest time at pause: restored on resume so the guest's clock stands still while paused. */
let pausedClock: StateRecord | undefined;
let budget = Math.min(200_000, maxBudget);
let statsAt = performance.now();
/** CPU cap: after a slice of d ms the thread owes d*(1/share - 1) ms of sleep. */
const share = data.spec.cpuMillis > 0 && data.spec.cpuMillis < 1000 ? data.spec.cpuMillis / 1000 : 1;
let throttleDebtMs = 0;
/** Live-migration auto-converge: the share of time (percent) the vCPU is held back. */
let migrationThrottle = 0;

function end(e: GuestEnd): void {
  flushOutput();
  post({ t: "end", end: e });
}

/** Applies queued commands; returns false when the worker must stop. */
function drain(): boolean {
  for (;;) {
    const got = receiveMessageOnPort(port);
    const msg = got?.message as ToVcpu | undefined;
    // Frames that came before a command reach the guest before it (a pause's state holds them):
    // a migration's pause follows the NIC thread's "held", posted after the frames the switch
    // sent before holding, so those are on the NIC port by now. A paused guest's NIC takes
    // nothing: its RAM and device state must hold still while a live migration copies them last.
    takeRx(!paused);
    if (rxFrames.length > 0) {
      deliverFrames?.(rxFrames);
      rxFrames = [];
    }
    if (msg === undefined) return true;
    switch (msg.t) {
      case "input":
        machine.consoleInput(msg.bytes);
        break;
      case "break":
        machine.sendBreak();
        break;
      case "pause":
        if (!paused) pausedClock = machine.clock.save();
        paused = true;
        if (msg.withState) {
          // Downtime from here: the rest of this answer must not wait for a core.
          lowerAfterPause ??= raiseForPause();
          const atMs = wallMs();
          const snap = ownBytes(machine.snapshot({ includeRam: false }));
          post({ t: "ack", id: msg.id, atMs, snapshot: snap }, transferOf(snap));
        } else {
          post({ t: "ack", id: msg.id });
        }
        flushOutput();
        break;
      case "resume":
        if (paused && pausedClock) machine.clock.restore(pausedClock, machine.clock.stateVersion);
        paused = false;
        lowerAfterPause?.();
        lowerAfterPause = undefined;
        post({ t: "ack", id: msg.id });
        break;
      case "reboot":
        machine = fresh(true);
        if (paused) pausedClock = machine.clock.save();
        post({ t: "ack", id: msg.id });
        break;
      case "snapshot": {
        const snap = ownBytes(machine.snapshot({ includeRam: msg.includeRam }));
        post({ t: "ack", id: msg.id, snapshot: snap }, transferOf(snap));
        break;
      }
      case "throttle":
        migrationThrottle = Math.max(0, Math.min(99, msg.percent));
        break;
      case "build":
      case "restore":
        // Only an incoming VMM's first messages; a running guest has its state.
        break;
      case "exit":
        return false;
    }
  }
}

/** A snapshot as bytes of their own (whole buffer), so it moves to the main thread uncopied. */
function ownBytes(snap: Uint8Array): Uint8Array {
  return snap.byteOffset === 0 && snap.byteLength === snap.buffer.byteLength ? snap : snap.slice();
}
function transferOf(b: Uint8Array): ArrayBuffer[] {
  return b.buffer instanceof ArrayBuffer ? [b.buffer] : [];
}

function reportStats(now: number): void {
  if (now - statsAt < STATS_EVERY_MS) return;
  post({ t: "stats", instret: Number(machine.instret) });
  statsAt = now;
}

for (;;) {
  // Read the wake word before draining: a message posted after the drain changes it, so the wait
  // below returns at once instead of sleeping through the message.
  const seq = Atomics.load(ctl, WAKE);
  if (!drain()) break;
  if (paused) {
    reportStats(performance.now());
    Atomics.wait(ctl, WAKE, seq, MAX_IDLE_WAIT_MS);
    continue;
  }
  const credit = chargeOutput(performance.now());
  if (credit < 0) {
    // Over the console rate: wait for the line (commands still wake this thread and are served).
    Atomics.wait(ctl, WAKE, seq, Math.min(-credit / CONSOLE_BYTES_PER_MS, 200));
    continue;
  }
  const t0 = performance.now();
  let exit: ExitReason;
  sliceSeq = seq;
  sliceStart = t0;
  yielded = false;
  try {
    exit = machine.run(budget, yieldNow);
  } catch (err) {
    // hv-core promises guest actions never throw; if one does, it is a host bug: this VM dies, alone.
    end({ kind: "fatal", code: 70, message: `vcpu: ${(err as Error).stack ?? String(err)}` });
    break;
  }
  const t1 = performance.now();
  const dt = t1 - t0;
  if (lowerAfterStart) {
    lowerAfterStart();
    lowerAfterStart = undefined;
  }
  if (exit.kind === "budget" && !yielded) {
    budget = Math.round(
      Math.min(maxBudget, Math.max(MIN_BUDGET, budget * (SLICE_TARGET_MS / Math.max(dt, 1)))),
    );
  }
  flushOutput();
  flushTx();
  // A guest that wrote lately runs in short slices, so that one slice cannot write much past its
  // credit before the check above makes it wait.
  const left = chargeOutput(t1);
  if (left < CONSOLE_BURST_BYTES) {
    budget = Math.min(budget, data.spec.bootMode === "firmware" ? MIN_BUDGET : Math.max(MIN_BUDGET, left));
  }
  reportStats(t1);
  if (exit.kind === "idle") {
    const ms = Number.isFinite(exit.wakeInMs) ? Math.min(exit.wakeInMs, MAX_IDLE_WAIT_MS) : MAX_IDLE_WAIT_MS;
    if (ms > 0) Atomics.wait(ctl, WAKE, seq, ms);
  } else if (exit.kind === "poweroff" || exit.kind === "htif") {
    end({
      kind: "poweroff",
      code: exit.code,
      message: exit.kind === "htif" ? "htif tohost" : "guest poweroff",
    });
    break;
  } else if (exit.kind === "fatal") {
    end({ kind: "fatal", code: 1, message: exit.message });
    break;
  } else if (exit.kind === "reboot") {
    machine = fresh(true);
    post({ t: "rebooted" });
  }
  if (migrationThrottle > 0) {
    // Sleep so the guest runs (100 - p)% of the time: it dirties less than the link carries.
    const owed = (dt * migrationThrottle) / (100 - migrationThrottle);
    Atomics.wait(ctl, WAKE, Atomics.load(ctl, WAKE), Math.min(owed, 1000));
  }
  if (share < 1) {
    throttleDebtMs += dt * (1 / share - 1);
    if (throttleDebtMs >= 5) {
      const before = performance.now();
      Atomics.wait(ctl, WAKE, Atomics.load(ctl, WAKE), Math.min(throttleDebtMs, 200));
      throttleDebtMs = Math.max(0, throttleDebtMs - (performance.now() - before));
    }
  }
}
port.close();
nicPort?.close();
