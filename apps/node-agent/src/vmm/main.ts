#!/usr/bin/env node
/**
 * VMM process entry: `node vmm/main.js --dir <vm dir> [--restore | --incoming]`. Spawned detached by the agent,
 * one per running VM, so the agent can die or restart without taking guests with it. Reads the VM's
 * record from <dir>/config.json; logs (pino JSON) go to stdout, which the agent points at vmm.log.
 */
import { rmSync, writeFileSync } from "node:fs";
import { parseArgs } from "node:util";
import { createLogger, errorMessage } from "@skiff/common";
import { pathsInDir } from "../vm/layout.js";
import { readRecord, writeExitRecord } from "../vm/record.js";
import { readIncomingPlan } from "./incoming-plan.js";
import { startVcpu, type VcpuStart } from "./vcpu-start.js";

const { values } = parseArgs({
  options: {
    dir: { type: "string" },
    restore: { type: "boolean", default: false },
    // A live-migration target: the VM's record comes from incoming.json and is committed later.
    incoming: { type: "boolean", default: false },
  },
});
if (values.dir === undefined) {
  console.error("usage: vmm --dir <vm dir> [--restore]");
  process.exit(2);
}
const paths = pathsInDir(values.dir);
const plan = values.incoming ? readIncomingPlan(paths.dir) : undefined;
const record = plan?.record ?? readRecord(paths.config);
const log = createLogger(`vmm:${record.vmId}`, process.env.LOG_LEVEL ?? "info");

/** Dies with a reason on disk, so the agent reports a crash with a cause rather than a mystery. */
function die(message: string, code: number): never {
  log.error({ message }, "vmm failed");
  try {
    writeExitRecord(paths.exit, { reason: "fatal", code, message, atMs: Date.now() });
  } catch {
    // nothing more to do
  }
  rmSync(paths.socket, { force: true });
  rmSync(paths.pid, { force: true });
  process.exit(1);
}

process.on("uncaughtException", (err) => die(`vmm: ${err.stack ?? err.message}`, 70));
process.on("unhandledRejection", (err) => die(`vmm: ${errorMessage(err)}`, 70));

rmSync(paths.exit, { force: true });
writeFileSync(paths.pid, `${process.pid}\n`);
// The vCPU worker first: its start runs beside the loading of the rest of this process.
let early: VcpuStart;
try {
  early = startVcpu(record.vmId, record.spec, record.epoch, {
    incoming: plan !== undefined,
    ...(values.restore ? { restorePath: paths.snapshot } : {}),
  });
} catch (err) {
  die(`boot failed: ${errorMessage(err)}`, 1);
}
const { Vmm } = await import("./vmm.js");
const overhead = (record.spec.vmmOverheadMib > 0 ? record.spec.vmmOverheadMib : 192) * 1024 * 1024;
const vmm = new Vmm(
  record.vmId,
  paths,
  record.spec,
  log,
  record.spec.memoryBytes + overhead,
  record.epoch,
  early,
);
process.on("SIGTERM", () => {
  void vmm.finish({ reason: "stop", code: 0, message: "SIGTERM", atMs: Date.now() });
});
try {
  await vmm.start(values.restore === true, plan);
} catch (err) {
  die(`boot failed: ${errorMessage(err)}`, 1);
}
