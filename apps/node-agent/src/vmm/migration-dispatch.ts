/** The VMM's live-migration operations, dispatched from the control socket (vmm.ts). */

import { agentError } from "../errors.js";
import { IncomingMigration } from "./migrate-in.js";
import { OutgoingMigrations } from "./migrate-out.js";
import type { IncomingPlan, MigrationVmmOps } from "./migrate-protocol.js";
import type { MigrationConn, MigrationHost } from "./migration-access.js";
import type { VmmHandlers } from "./protocol.js";

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

  /** The migration operations of the VMM's control protocol, one typed handler each. */
  readonly handlers: VmmHandlers<MigrationConn, keyof MigrationVmmOps> = {
    migrateOut: (conn, args) => this.outgoing.migrate(conn, args),
    migrateCancel: (_conn, args) => ({ result: this.outgoing.cancel(args.migrationId) }),
    migrateResolve: (_conn, args) =>
      this.host.serial(() => this.outgoing.resolve(args.migrationId, args.committed)),
    incomingAttach: (conn) => this.need().attach(conn),
    incomingAbort: (_conn, args) => this.need().abort(args.migrationId),
    incomingAdopted: () => this.need().markAdopted(),
  };

  private need(): IncomingMigration {
    if (!this.incoming) throw agentError("MIGRATION_NOT_FOUND", "this VMM has no incoming migration");
    return this.incoming;
  }
}
