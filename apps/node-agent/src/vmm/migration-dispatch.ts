/**
 * The VMM's live-migration operations, dispatched from the control socket (vmm.ts). The stream's
 * code (gRPC, TLS, the protocol) loads on the first migration in or out: most VMMs never migrate,
 * and every VMM's start-up paid for it.
 */

import { agentError } from "../errors.js";
import type { IncomingMigration } from "./migrate-in.js";
import type { OutgoingMigrations } from "./migrate-out.js";
import type { IncomingPlan, MigrationVmmOps } from "./migrate-protocol.js";
import type { MigrationConn, MigrationHost } from "./migration-access.js";
import type { VmmHandlers } from "./protocol.js";

export class VmmMigration {
  private outgoing: OutgoingMigrations | undefined;
  private loadingOut: Promise<OutgoingMigrations> | undefined;
  private incoming: IncomingMigration | undefined;

  constructor(private readonly host: MigrationHost) {}

  /** True while a migration owns the dirty bitmaps (the usage sampler must not clear them). */
  get active(): boolean {
    return (this.outgoing?.active ?? false) || (this.incoming !== undefined && !this.incoming.isCommitted);
  }

  /** See OutgoingMigrations.toleratedEpoch (none before the first migration out). */
  get toleratedEpoch(): number | undefined {
    return this.outgoing?.toleratedEpoch;
  }

  async startIncoming(plan: IncomingPlan): Promise<void> {
    const { IncomingMigration } = await import("./migrate-in.js");
    this.incoming = new IncomingMigration(this.host, plan);
    await this.incoming.start();
  }

  /** The migration operations of the VMM's control protocol, one typed handler each. */
  readonly handlers: VmmHandlers<MigrationConn, keyof MigrationVmmOps> = {
    migrateOut: async (conn, args) => (await this.out()).migrate(conn, args),
    migrateCancel: (_conn, args) => ({
      result: this.outgoing?.cancel(args.migrationId) ?? { cancelled: false },
    }),
    migrateResolve: (_conn, args) =>
      this.host.serial(async () => (await this.out()).resolve(args.migrationId, args.committed)),
    incomingAttach: (conn) => this.need().attach(conn),
    incomingAbort: (_conn, args) => this.need().abort(args.migrationId),
    incomingAdopted: () => this.need().markAdopted(),
  };

  private out(): Promise<OutgoingMigrations> {
    this.loadingOut ??= import("./migrate-out.js").then(
      ({ OutgoingMigrations }) => (this.outgoing = new OutgoingMigrations(this.host)),
    );
    return this.loadingOut;
  }

  private need(): IncomingMigration {
    if (!this.incoming) throw agentError("MIGRATION_NOT_FOUND", "this VMM has no incoming migration");
    return this.incoming;
  }
}
