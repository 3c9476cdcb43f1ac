/**
 * The destination VMM's side of a live migration (a VMM started with --incoming): it serves the
 * MigrationStream, lets the receiver write pages straight into this VMM's guest RAM and blocks into
 * the VM's disk, and at the commit record makes the VM this node's:
 *
 *   device state arrives -> the waiting vCPU worker restores it (in parallel) -> commit record ->
 *   verify (receiver) -> the commit allowed (commit-word.ts) -> the vCPU, restored, renames
 *   vms/<id>/config.json into place (THE COMMIT POINT) and runs the guest -> the agent adopts the
 *   VM -> reply `committed`.
 *
 * Until the commit point, anything (the source's abort, a broken stream, the agent's connection
 * closing, incomingAbort, no stream in time) discards the shell: the VM dir goes, the VMM exits.
 * An abort refuses the commit on the shared commit word, where the vCPU takes it: exactly one
 * wins, so incomingAbort's answer ("committed" or not) is always the truth.
 *
 * A disk on the same shared storage as the source's is not received: it is the same file. The
 * vCPU opens it when it restores (the source is paused and has flushed by then), and right after
 * the commit point this VMM claims it at the target epoch (storage/lease.ts). A disk copied onto
 * shared storage (the source's was elsewhere) is claimed before the first block lands, which
 * fences whatever stale VMM might still have the old file there open.
 */
import { closeSync, ftruncateSync, mkdirSync, openSync, rmSync, statSync } from "node:fs";
import { hostname } from "node:os";
import { errorMessage } from "@skiff/common";
import { diskDirtyLogBytes } from "@skiff/hv-core";
import {
  type CommitTimes,
  type IncomingStream,
  MigrationReceiver,
  type MigrationServer,
  receiveMigration,
  serveMigration,
  type TargetVm,
  wallMs,
} from "@skiff/migration";
import { loadTls, logRefusedClients, serverCredentials } from "@skiff/pki";
import { agentError } from "../errors.js";
import { claimLease, leaseHolder } from "../storage/lease.js";
import { stageRecord } from "../vm/record.js";
import { incomingPlanPath } from "./incoming-plan.js";
import { rememberPauseFixedMs } from "./last-pause.js";
import { collectYoung, raiseProcessForMigration, raiseProcessForPause } from "./migrate-priority.js";
import type { IncomingPlan } from "./migrate-protocol.js";
import type { MigrationConn, MigrationHost, MigrationReply } from "./migration-access.js";
import type { StagedRecord } from "./vcpu-messages.js";

/** How long a committed VMM waits for its agent to adopt the VM before it answers the source. */
const ADOPT_WAIT_MS = 3000;

export class IncomingMigration {
  private server: MigrationServer | undefined;
  private stream: IncomingStream | undefined;
  private committed = false;
  private aborted = false;
  private diskFd = -1;
  private diskInPlace = false;
  private diskDirty: SharedArrayBuffer | undefined;
  private timer: NodeJS.Timeout | undefined;
  private restoring: Promise<number> | undefined;
  private lower: () => void = () => undefined;
  private lowerPause: () => void = () => undefined;
  private receiver: MigrationReceiver | undefined;
  /** The record written at start; renamed into place by the vCPU, it is the commit point. */
  private record: StagedRecord | undefined;
  private adopted: () => void = () => undefined;
  private readonly adoptedOnce: Promise<void>;

  constructor(
    private readonly host: MigrationHost,
    private readonly plan: IncomingPlan,
  ) {
    this.adoptedOnce = new Promise((resolve) => {
      this.adopted = resolve;
    });
  }

  get isCommitted(): boolean {
    return this.committed || this.host.vcpu()?.incomingCommitted === true;
  }

  /** Serves the stream; the shell discards itself if no source connects in time. */
  async start(): Promise<void> {
    this.lower = raiseProcessForMigration();
    const tls = this.plan.tls ? loadTls(this.plan.tls) : undefined;
    this.server = await serveMigration(this.plan.host, 0, (s) => this.onStream(s), serverCredentials(tls));
    if (tls) logRefusedClients(this.server.grpc, this.host.log);
    this.record = stageRecord(this.host.paths.config, this.plan.record);
    this.timer = setTimeout(() => this.discard("no migration stream arrived in time"), this.plan.timeoutMs);
    this.host.log.info(
      { migrationId: this.plan.migrationId, port: this.server.port },
      "migration in: waiting",
    );
  }

  /** The agent's supervising connection: if it goes before the commit, so does this shell. */
  attach(conn: MigrationConn): MigrationReply<{ port: number }> {
    conn.socket.once("close", () => this.discard("the agent's connection closed"));
    return { result: { port: this.server?.port ?? 0 } };
  }

  abort(migrationId: string): MigrationReply<{ committed: boolean }> {
    if (this.isCommitted) return { result: { committed: true } };
    if (migrationId !== "" && migrationId !== this.plan.migrationId) {
      throw agentError("MIGRATION_NOT_FOUND", `this VMM waits for migration ${this.plan.migrationId}`);
    }
    // Decided now (no commit can follow, or it came first); the shell goes once the answer is out.
    if (!this.refuse()) return { result: { committed: true } };
    return { result: { committed: false }, after: () => this.discard("aborted by the agent") };
  }

  /** No commit may follow; false when it is too late (the vCPU committed). */
  private refuse(): boolean {
    if (this.committed) return false;
    this.aborted = true;
    return this.host.vcpu()?.refuseCommit() !== "committed";
  }

  markAdopted(): MigrationReply<Record<string, never>> {
    this.adopted();
    return { result: {} };
  }

  private onStream(s: IncomingStream): void {
    if (this.stream || this.aborted || this.committed) {
      s.abort("this target already has its stream");
      return;
    }
    this.stream = s;
    clearTimeout(this.timer);
    const { record, token, migrationId } = this.plan;
    const receiver = (this.receiver = new MigrationReceiver(
      {
        migrationId,
        vmId: record.vmId,
        targetEpoch: record.epoch,
        token,
        memoryBytes: record.spec.memoryBytes,
      },
      this.target(),
    ));
    void receiveMigration(receiver, s, s).then((r) => {
      if (!r.committed) this.discard(r.error ? `${r.error.code}: ${r.error.message}` : "stream ended");
    });
  }

  private target(): TargetVm {
    const host = this.host;
    return {
      ram: new Uint8Array(host.memory.ram),
      openDisk: (bytes) => {
        if (host.spec.diskPath === "") {
          throw agentError("MIGRATION_TARGET_REFUSED", "the source sends a disk, the prepared VM has none");
        }
        const ds = host.spec.diskStorage;
        if (ds) {
          mkdirSync(ds.leaseDir, { recursive: true });
          this.claim(ds.leaseDir);
        }
        this.diskFd = openSync(host.spec.diskPath, "w+");
        ftruncateSync(this.diskFd, bytes);
        this.diskDirty = new SharedArrayBuffer(diskDirtyLogBytes(bytes));
        return this.diskFd;
      },
      openDiskInPlace: (storageId, bytes) => {
        const ds = host.spec.diskStorage;
        if (!ds || ds.id !== storageId) return undefined; // another storage (or none here): copy
        // The same storage: this VM's disk is the source's own file; a copy would overwrite it.
        let size: number;
        try {
          size = statSync(host.spec.diskPath).size;
        } catch {
          throw agentError(
            "MIGRATION_TARGET_REFUSED",
            `shared storage ${storageId} holds no disk for vm ${this.plan.record.vmId}`,
          );
        }
        if (size !== bytes) {
          throw agentError(
            "MIGRATION_TARGET_REFUSED",
            `the disk on shared storage is ${size} bytes, the source says ${bytes}`,
          );
        }
        this.diskFd = openSync(host.spec.diskPath, "r");
        this.diskInPlace = true;
        this.diskDirty = new SharedArrayBuffer(diskDirtyLogBytes(bytes));
        return this.diskFd;
      },
      // A disk kept in place is opened only at the restore, after the source flushed it: a
      // descriptor opened before may not see those writes on shared storage.
      accepted: () => {
        if (!this.diskInPlace) host.vcpu()?.buildIncoming(this.diskDirty);
      },
      prepare: (state) => this.prepare(state),
      // Round 0 (all of RAM) is the heavy one; from its end this thread mostly waits for the
      // pause, and must then wake at once.
      roundEnded: (round) => {
        if (round === 0) this.lowerPause = raiseProcessForPause();
        // The pause may follow any round: start it with an empty young generation.
        collectYoung();
      },
      commit: () => this.commit(),
    };
  }

  /** The device state arrived: the waiting vCPU restores it while the rest is verified. */
  private prepare(state: Uint8Array): void {
    const vcpu = this.host.vcpu();
    this.restoring =
      vcpu && this.record
        ? vcpu.prepareIncoming(state, this.diskDirty, this.record)
        : Promise.reject(agentError("MIGRATION_TARGET_FAILED", "no vcpu or no staged record"));
    // Looked at in commit(); never an unhandled rejection meanwhile.
    this.restoring.catch(() => undefined);
  }

  private async commit(): Promise<CommitTimes> {
    const host = this.host;
    const vcpu = host.vcpu();
    if (this.aborted) throw agentError("MIGRATION_CANCELLED", "the target was aborted");
    if (!vcpu) throw agentError("MIGRATION_TARGET_FAILED", "no vcpu");
    if (this.diskFd >= 0) closeSync(this.diskFd);
    this.diskFd = -1;
    const ds = host.spec.diskStorage;
    const sourceEpoch = this.receiver?.acceptedHello?.sourceEpoch ?? 0;
    if (ds && this.diskInPlace && leaseHolder(ds.leaseDir) > sourceEpoch) {
      // Someone newer than the source took the disk meanwhile (its VPS restarted elsewhere).
      throw agentError(
        "MIGRATION_TARGET_FAILED",
        `epoch ${leaseHolder(ds.leaseDir)} owns the disk on shared storage, the source runs ${sourceEpoch}`,
      );
    }
    // Verified: the vCPU makes the commit point the moment it has restored (or at once). A state
    // that does not restore, or a refusal that came first, commits nothing: the source resumes.
    let restoredAtMs: number;
    let commitPointAtMs: number;
    try {
      [restoredAtMs, commitPointAtMs] = await Promise.all([
        this.restoring ?? Promise.reject(new Error("no device state")),
        vcpu.commitIncoming(),
      ]);
    } catch (err) {
      if (!vcpu.incomingCommitted) {
        if (this.aborted) throw agentError("MIGRATION_CANCELLED", "the target was aborted");
        throw agentError("MIGRATION_TARGET_FAILED", `device state does not restore: ${errorMessage(err)}`);
      }
      // The word says committed but the vCPU ended before it said so: the VM is this node's and
      // crashed here (below); the source must not resume.
      restoredAtMs = commitPointAtMs = wallMs();
    }
    // From here the VM is this node's (epoch = the target epoch), and its guest runs.
    this.committed = true;
    if (ds && this.diskInPlace) {
      try {
        // The guest's first writes may land before this: only the source (paused, then gone)
        // held the disk, and a newer holder was ruled out above.
        this.claim(ds.leaseDir);
      } catch (err) {
        // Committed all the same; the agent's next StartVm claims it (or is refused as stale).
        host.log.error({ err: errorMessage(err) }, "migration in: cannot claim the disk's lease");
      }
    }
    let resumedAtMs = commitPointAtMs;
    try {
      resumedAtMs = await vcpu.firstInstruction();
      rememberPauseFixedMs(this.receiver?.pauseFixedMs(resumedAtMs));
      if (this.diskDirty) host.memory.diskDirty = this.diskDirty;
      host.setState("running");
      host.started(0);
    } catch (err) {
      // Committed all the same: the VM is this node's and crashed here; the source must not resume.
      host.log.error({ err: errorMessage(err) }, "migration in: the guest did not start after the commit");
    }
    rmSync(incomingPlanPath(host.paths.dir), { force: true });
    host.log.info(
      { migrationId: this.plan.migrationId, epoch: this.plan.record.epoch },
      "migration in: committed, guest running",
    );
    void this.server?.close();
    this.lowerPause();
    this.lower();
    await Promise.race([this.adoptedOnce, new Promise((r) => setTimeout(r, ADOPT_WAIT_MS))]);
    return { resumedAtMs, restoredAtMs, commitPointAtMs };
  }

  /** Owns the disk on shared storage at the target epoch (STALE_EPOCH when a newer one does). */
  private claim(leaseDir: string): void {
    const { vmId, epoch } = this.plan.record;
    claimLease(leaseDir, vmId, epoch, hostname());
  }

  /** Throws the shell away (never after the commit). */
  private discard(reason: string): void {
    if (!this.refuse()) return;
    clearTimeout(this.timer);
    this.stream?.abort(reason);
    if (this.diskFd >= 0) closeSync(this.diskFd);
    this.diskFd = -1;
    this.host.log.warn({ migrationId: this.plan.migrationId, reason }, "migration in: discarded");
    void this.server?.close();
    rmSync(this.host.paths.dir, { recursive: true, force: true });
    void this.host.finish({
      reason: "stop",
      code: 0,
      message: `incoming migration discarded: ${reason}`,
      atMs: Date.now(),
    });
  }
}
