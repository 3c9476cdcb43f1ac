/**
 * `pnpm bench:network [--json] [--seconds 5] [--pings 200] [--guest-pings 20] [--hops 5] [--no-qemu]
 * [--migration-only]`: VPS networking
 * on real agents, VMMs, overlay and gateway (skiff-region.ts), then the same guest in QEMU on a
 * TAP (qemu-reference.ts), measured the same way (probes.ts). One line, or one JSON object, per
 * scenario and machine on stdout; progress, ratios and targets on stderr in JSON mode.
 */
import { cpus, loadavg } from "node:os";
import { parseArgs } from "node:util";
import { gatewayUnavailableReason } from "../../gateway/netns.js";
import { type NetworkFigure, ratios, rttFigures, SCENARIOS, targets, worstHop } from "./figures.js";
import {
  bootSettled,
  type Guest,
  guestToGuest,
  guestToHost,
  hostToGuest,
  streamAcrossMigrations,
} from "./probes.js";
import { QemuReference } from "./qemu-reference.js";
import { SkiffRegion } from "./skiff-region.js";

const { values } = parseArgs({
  options: {
    json: { type: "boolean", default: false },
    seconds: { type: "string", default: "5" },
    pings: { type: "string", default: "200" },
    "guest-pings": { type: "string", default: "20" },
    hops: { type: "string", default: "5" },
    "no-qemu": { type: "boolean", default: false },
    /** Only the stream across migrations (one guest booted, no QEMU): its stall, measured quickly. */
    "migration-only": { type: "boolean", default: false },
  },
});
const seconds = Number(values.seconds);
const pings = Number(values.pings);
const guestPings = Number(values["guest-pings"]);
const hops = Number(values.hops);
const log = (line: string) => console.error(line);
const report = values.json ? log : (line: string) => console.log(line);
const figures: NetworkFigure[] = [];
const SETTLE_MS = 300_000;

function print(f: NetworkFigure): void {
  figures.push(f);
  if (values.json) {
    console.log(JSON.stringify(f));
    return;
  }
  const rate = f.mbps === null ? "" : `${f.mbps} Mbit/s`;
  const cost = f.guestInstrPerKiB === undefined ? "" : `  (guest: ${f.guestInstrPerKiB} instructions/KiB)`;
  const rtt = f.rttP50Ms === null ? "" : `  RTT p50 ${f.rttP50Ms} ms, p99 ${f.rttP99Ms} ms`;
  const stall =
    f.maxStallMs === undefined
      ? ""
      : `longest stall ${f.maxStallMs} ms beside that hop's downtime ${f.downtimeMs} ms, ${f.resets} resets;` +
        ` ${f.baselineGapMs} ms without migrating` +
        ` (hops, stall (from the pause on)/downtime ms and the sender's RTOs/DSACKs: ${f.hops?.map((h) => `${h.stallMs} (${h.fromPauseMs ?? "-"})/${h.downtimeMs} ${h.rtos}/${h.dsacks}`).join(", ")})`;
  console.log(`${f.machine.padEnd(6)} ${f.name.padEnd(28)} ${rate}${cost}${rtt}${stall}  [load ${f.load1}]`);
}

const load1 = () => Math.round(loadavg()[0]! * 10) / 10;
const figure = (
  machine: NetworkFigure["machine"],
  name: string,
  measured: Pick<NetworkFigure, "mbps" | "rttP50Ms" | "rttP99Ms" | "guestInstrPerKiB">,
): NetworkFigure => ({ name, machine, ...measured, load1: load1() });

/** What both machines measure: the namespace to guest `a` and back, and `a` reading from `b`. */
async function common(machine: NetworkFigure["machine"], ns: string, a: Guest, b: Guest): Promise<void> {
  print(figure(machine, SCENARIOS.hostToGuest, await hostToGuest(ns, a, seconds, pings)));
  print(figure(machine, SCENARIOS.guestToHost, await guestToHost(ns, a, seconds)));
  print(figure(machine, SCENARIOS.oneNode, await guestToGuest(a, b, seconds, guestPings)));
}

async function skiff(): Promise<void> {
  const migrationOnly = values["migration-only"];
  const region = await SkiffRegion.start(log, migrationOnly ? ["c"] : undefined);
  try {
    for (const id of migrationOnly ? (["c"] as const) : (["a", "b", "c"] as const))
      await bootSettled(region.guest(id), SETTLE_MS);
    if (!migrationOnly) {
      await common("skiff", region.ns, region.guest("a"), region.guest("b"));
      print(
        figure(
          "skiff",
          SCENARIOS.twoNodes,
          await guestToGuest(region.guest("a"), region.guest("c"), seconds, guestPings),
        ),
      );
    }
    const stream = await streamAcrossMigrations(region.ns, region.guest("c"), hops, (paused) =>
      region.migrate("c", paused),
    );
    const worst = worstHop(stream.hops);
    if (!stream.intact) log("skiff: the echo stream across migrations lost or reordered bytes");
    print({
      ...figure("skiff", SCENARIOS.migration, { mbps: null, ...rttFigures([]) }),
      maxStallMs: worst?.stallMs ?? Number.NaN,
      downtimeMs: worst?.downtimeMs ?? Number.NaN,
      resets: stream.resets + (stream.intact ? 0 : 1),
      baselineGapMs: stream.baselineGapMs,
      hops: stream.hops,
    });
  } finally {
    await region.stop();
  }
}

async function qemu(): Promise<void> {
  const ref = await QemuReference.start(log);
  try {
    for (const id of ["a", "b"] as const) await bootSettled(ref.guest(id), SETTLE_MS);
    await common("qemu", ref.ns, ref.guest("a"), ref.guest("b"));
  } finally {
    await ref.stop();
  }
}

const unavailable = await gatewayUnavailableReason();
if (unavailable) {
  log(`bench:network needs network namespaces: ${unavailable}`);
  process.exit(2);
}
log(
  `${new Date().toISOString()}  ${cpus().length} × ${cpus()[0]?.model ?? "?"}  load ${loadavg()
    .map((l) => l.toFixed(1))
    .join(" ")}`,
);
await skiff();
if (!values["no-qemu"] && !values["migration-only"]) await qemu();
report("ratios (Skiff / QEMU):");
for (const line of ratios(figures)) report(`  ${line}`);
report("targets:");
for (const line of targets(figures)) report(`  ${line}`);
// The agents' gRPC channels may keep the loop alive after everything stopped.
process.exit(0);
