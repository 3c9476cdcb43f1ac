/** The VMM's live-migration operations, dispatched from the control socket (vmm.ts). */
import { SkiffError } from "@skiff/common";
import type { MigrationConn, MigrationHost, MigrationReply } from "./migrate-host.js";
import { IncomingMigration } from "./migrate-in.js";
import { OutgoingMigrations } from "./migrate-out.js";
import type { IncomingPlan, MigrationVmmOps } from "./migrate-protocol.js";

type Op = keyof MigrationVmmOps;

export class VmmMigration {
  readonly outgoing: OutgoingMigrations;
  private incoming: IncomingMigration | undefined;

  constructor(private readonly host: MigrationHost) {
    this.outgoing = new OutgoingMigrations(host);
  }

  /** True while a migration owns the dirty bitmaps (the usage sampler must not clear them). */
  get active(): boolean {
    return this.outgoing.active || (this.incoming !== undefined && !this.incoming.isCommitted);
  }

  async startIncoming(plan: IncomingPlan): Promise<void> {
    this.incoming = new IncomingMigration(this.host, plan);
    await this.incoming.start();
  }

  async handle(conn: MigrationConn, op: Op, args: Record<string, unknown>): Promise<MigrationReply<unknown>> {
    switch (op) {
      case "migrateOut":
        return this.outgoing.migrate(conn, args as unknown as MigrationVmmOps["migrateOut"]["args"]);
      case "migrateCancel":
        return { result: this.outgoing.cancel(String(args.migrationId ?? "")) };
      case "migrateResolve":
        return this.host.serial(() =>
          this.outgoing.resolve(String(args.migrationId ?? ""), args.committed === true),
        );
      case "incomingAttach":
        return this.need().attach(conn);
      case "incomingAbort":
        return this.need().abort(String(args.migrationId ?? ""));
      case "incomingAdopted":
        return this.need().markAdopted();
    }
  }

  private need(): IncomingMigration {
    if (!this.incoming) throw new SkiffError("MIGRATION_NOT_FOUND", "this VMM has no incoming migration");
    return this.incoming;
  }
}
