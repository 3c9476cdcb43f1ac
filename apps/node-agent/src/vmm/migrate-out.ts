/**
 * The source VMM's side of a live migration: the guest keeps running in the vCPU worker while this
 * (main) thread streams its RAM and disk to the destination VMM (packages/migration over gRPC).
 * Committed: the VMM exits with reason "migrated" (the guest lives on elsewhere). Rolled back: the
 * guest runs on here. In doubt: held paused until the agent settles it with migrateResolve.
 */
import { closeSync, fdatasyncSync, openSync, statSync } from "node:fs";
import { DISK_DIRTY_BLOCK, DirtyBitmap } from "@skiff/hv-core";
import { connectMigration, type MigrationReport, MigrationSender, type SourceVm } from "@skiff/migration";
import { channelCredentials, loadTls, nodeIdentity, nodeNameOf } from "@skiff/pki";
import { agentError } from "../errors.js";
import { lastPauseFixedMs } from "./last-pause.js";
import { collectYoung, raiseProcessForMigration, raiseProcessForPause } from "./migrate-priority.js";
import type { MigrateOutArgs } from "./migrate-protocol.js";
import type { MigrationConn, MigrationHost, MigrationReply } from "./migration-access.js";

interface Running {
  readonly migrationId: string;
  readonly abort: AbortController;
}

interface InDoubt {
  readonly migrationId: string;
  readonly wasPaused: boolean;
  readonly diskInPlace: boolean | undefined;
}

export class OutgoingMigrations {
  private running: Running | undefined;
  private inDoubt: InDoubt | undefined;
  private tolerated: number | undefined;

  constructor(private readonly host: MigrationHost) {}

  /**
   * The target epoch of a migration that may have committed: the destination owns the disk on
   * shared storage at that epoch once it commits, and this VMM (paused, about to exit) must not
   * take that for being fenced. Cleared when the migration rolled back.
   */
  get toleratedEpoch(): number | undefined {
    return this.tolerated;
  }

  /** True while the dirty bitmaps belong to a migration. */
  get active(): boolean {
    return this.running !== undefined || this.inDoubt !== undefined;
  }

  migrate(conn: MigrationConn, args: MigrateOutArgs): Promise<MigrationReply<MigrationReport>> {
    return this.host.serial(() => this.run(conn, args));
  }

  private async run(conn: MigrationConn, args: MigrateOutArgs): Promise<MigrationReply<MigrationReport>> {
    const host = this.host;
    const state = host.state();
    if (state !== "running" && state !== "paused") {
      throw agentError("VMM_INVALID_STATE", `cannot migrate while ${state}`);
    }
    if (this.running || this.inDoubt) {
      throw agentError(
        "MIGRATION_IN_PROGRESS",
        `migration ${(this.running ?? this.inDoubt)?.migrationId} is not settled`,
      );
    }
    const vcpu = host.vcpu();
    if (!vcpu) throw agentError("VMM_INVALID_STATE", "no vcpu");
    const wasPaused = state === "paused";
    const abort = new AbortController();
    // The agent that asked went away: roll back (unless the commit is already out).
    const onClose = () => abort.abort();
    conn.socket.once("close", onClose);
    this.running = { migrationId: args.migrationId, abort };
    this.tolerated = args.targetEpoch;
    const lower = raiseProcessForMigration();
    let lowerPause: () => void = () => undefined;
    let diskFd = -1;
    let deviceState: Promise<Uint8Array> | undefined;
    let disk: SourceVm["disk"];
    try {
      disk = this.disk();
      diskFd = disk?.fd ?? -1;
      const source: SourceVm = {
        ram: new Uint8Array(host.memory.ram),
        dirty: host.dirty,
        ...(disk ? { disk } : {}),
        pause: async () => {
          // The young generation emptied while the guest still runs: the pause's few
          // allocations then fit without a collection.
          collectYoung();
          lowerPause = raiseProcessForPause();
          if (wasPaused) return undefined;
          // Frames that reach a paused guest are lost with this copy: the switch keeps them.
          await host.holdNic();
          // The device state comes with the pause's answer: no second hand-off in the downtime.
          const paused = vcpu.pauseWithState();
          deviceState = paused.then((p) => p.state);
          deviceState.catch(() => undefined);
          const { atMs } = await paused;
          host.setState("paused");
          return atMs;
        },
        resume: async () => {
          if (wasPaused) return;
          await vcpu.resume();
          host.setState("running");
          host.resumeNic();
        },
        deviceState: () => deviceState ?? vcpu.snapshot(false),
        setThrottle: (percent) => vcpu.throttle(percent),
      };
      host.log.info({ migrationId: args.migrationId, target: args.targetAddress }, "migration out: starting");
      const creds = args.tls
        ? channelCredentials(
            loadTls(args.tls.files),
            args.tls.targetNode === ""
              ? (id: string) => nodeNameOf(id) !== undefined
              : nodeIdentity(args.tls.targetNode),
            host.log,
          )
        : undefined;
      const report = await new MigrationSender(source, connectMigration(args.targetAddress, creds), {
        migrationId: args.migrationId,
        vmId: host.vmId,
        sourceEpoch: args.sourceEpoch,
        targetEpoch: args.targetEpoch,
        token: args.token,
        maxDowntimeMs: args.maxDowntimeMs,
        bandwidthBytesPerSec: args.bandwidthBytesPerSec,
        maxRounds: args.maxRounds,
        timeoutMs: args.timeoutMs,
        autoConverge: args.autoConverge,
        compression: args.compression,
        fixedDowntimeMs: lastPauseFixedMs(),
        signal: abort.signal,
        onRound: (round) => conn.send({ t: "migration", round }),
        onPhase: (phase) => conn.send({ t: "migration-phase", phase }),
      }).run();
      host.log.info(
        {
          migrationId: args.migrationId,
          outcome: report.outcome,
          error: report.error,
          rounds: report.rounds.length,
          downtimeMs: report.downtimeMs,
          totalMs: report.totalMs,
        },
        "migration out: ended",
      );
      if (report.outcome === "committed") {
        return {
          result: report,
          after: () =>
            void host.finish({
              reason: "migrated",
              code: 0,
              message: `to epoch ${args.targetEpoch} (${args.migrationId})`,
              atMs: Date.now(),
              ...(disk ? { diskInPlace: report.diskInPlace === true } : {}),
            }),
        };
      }
      if (report.outcome === "in-doubt") {
        this.inDoubt = {
          migrationId: args.migrationId,
          wasPaused,
          diskInPlace: disk ? report.diskInPlace === true : undefined,
        };
      } else {
        this.tolerated = undefined;
      }
      return { result: report };
    } catch (err) {
      this.tolerated = undefined;
      throw err;
    } finally {
      conn.socket.off("close", onClose);
      lowerPause();
      lower();
      this.running = undefined;
      if (diskFd >= 0) closeSync(diskFd);
    }
  }

  /** The VM's disk as the sender reads it, with the dirty-block log the vCPU fills. */
  private disk(): SourceVm["disk"] {
    const { spec, memory } = this.host;
    if (spec.diskPath === "") return undefined;
    if (!memory.diskDirty) {
      throw agentError(
        "MIGRATION_UNSUPPORTED",
        "this VMM runs without a disk dirty-block log: restart the VM first",
      );
    }
    const bytes = statSync(spec.diskPath).size;
    const fd = openSync(spec.diskPath, "r");
    return {
      fd,
      bytes,
      dirty: new DirtyBitmap(Math.ceil(bytes / DISK_DIRTY_BLOCK), memory.diskDirty),
      // On shared storage the destination may open this very file instead of receiving a copy.
      ...(spec.diskStorage
        ? {
            storageId: spec.diskStorage.id,
            // The guest's writes, out of this host's cache and onto the storage (per file: any
            // descriptor of it flushes them all).
            flush: () => fdatasyncSync(fd),
          }
        : {}),
    };
  }

  cancel(migrationId: string): { cancelled: boolean } {
    if (this.running?.migrationId !== migrationId) return { cancelled: false };
    this.running.abort.abort();
    return { cancelled: true };
  }

  /** Settles an in-doubt migration with what the destination said. */
  async resolve(migrationId: string, committed: boolean): Promise<MigrationReply<{ resumed: boolean }>> {
    const d = this.inDoubt;
    if (d?.migrationId !== migrationId) {
      throw agentError("MIGRATION_NOT_IN_DOUBT", `no in-doubt migration ${migrationId} here`);
    }
    this.inDoubt = undefined;
    const host = this.host;
    if (committed) {
      return {
        result: { resumed: false },
        after: () =>
          void host.finish({
            reason: "migrated",
            code: 0,
            message: `resolved (${migrationId})`,
            atMs: Date.now(),
            ...(d.diskInPlace !== undefined ? { diskInPlace: d.diskInPlace } : {}),
          }),
      };
    }
    this.tolerated = undefined;
    if (!d.wasPaused) {
      await host.vcpu()?.resume();
      host.setState("running");
      host.resumeNic();
    }
    host.log.info({ migrationId }, "in-doubt migration resolved: not committed, resumed");
    return { result: { resumed: !d.wasPaused } };
  }
}
