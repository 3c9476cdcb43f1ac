/**
 * A restarted agent finds its VMs again: it connects to every VMM socket it finds and takes the
 * VMM's word for the state; a VM recorded as running whose VMM does not answer is settled as it
 * ended (never restarted), and a VMM that lives but does not answer is ended first.
 */
import { existsSync } from "node:fs";
import { errorMessage, type Logger } from "@skiff/common";
import { hasVmm } from "../vm/lifecycle.js";
import { readExitRecord } from "../vm/record.js";
import { VmmClient } from "../vmm/client.js";
import { isAlive, isVmmFor, killVmm } from "../vmm/process.js";
import { recordedPid, type VmEntry } from "./vm-entry.js";

/** How long a restarted agent waits for a live VMM without a socket yet (booting, restoring). */
const REATTACH_WAIT_MS = 10_000;

/** What reattaching needs of the registry. */
export interface ReattachHost {
  readonly log: Logger;
  supervise(entry: VmEntry, client: VmmClient): void;
  persist(entry: VmEntry): void;
  settleExit(entry: VmEntry, exit: ReturnType<typeof readExitRecord>, unknown: string): void;
}

export async function reattach(entry: VmEntry, host: ReattachHost): Promise<void> {
  const { record, paths } = entry;
  const { log } = host;
  const was = record.state;
  const pid = recordedPid(paths);
  const live = () => pid > 0 && isAlive(pid) && isVmmFor(pid, paths.dir);
  // A live VMM may still be booting or restoring (no socket yet): give it time before judging.
  const deadline = Date.now() + (live() ? REATTACH_WAIT_MS : 0);
  for (;;) {
    if (existsSync(paths.socket)) {
      try {
        const client = await VmmClient.connect(paths.socket, {}, 2000);
        host.supervise(entry, client);
        const status = await client.request("watch", {});
        entry.status = status;
        // The VMM is the truth about a running guest (e.g. the agent died mid-StartVm).
        record.state = status.state === "paused" ? "paused" : "running";
        if (was !== record.state) host.persist(entry);
        log.info({ vmId: record.vmId, pid: entry.pid, state: record.state }, "reattached to VMM");
        return;
      } catch (err) {
        log.warn({ vmId: record.vmId, err: errorMessage(err) }, "VMM socket does not answer");
      }
    }
    if (!live() || Date.now() > deadline) break;
    await new Promise((r) => setTimeout(r, 200));
  }
  if (live()) {
    // Never two VMMs on one disk: one that cannot be reached is ended before anything else runs.
    log.warn({ vmId: record.vmId, pid }, "killing a VMM that does not answer");
    await killVmm(pid, paths.dir);
  }
  if (!hasVmm(record.state)) return;
  // It ran when the agent left and no VMM answers now: find out why, report, never restart.
  host.settleExit(entry, readExitRecord(paths.exit), "vmm-died while the agent was away");
  log.warn({ vmId: record.vmId, state: record.state, lastExit: record.lastExit }, "VMM gone");
}
