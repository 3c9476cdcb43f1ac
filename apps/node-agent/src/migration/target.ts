/**
 * The destination agent's side of a live migration: PrepareMigrationTarget asks the registry for
 * an incoming VM (an empty shell the registry does not list yet, and a VMM that waits for the
 * source's stream; registry/incoming.ts); when that VMM commits, the registry adopts the VM.
 * AbortMigrationTarget discards a shell unless it committed, and says which happened.
 */
import { randomBytes } from "node:crypto";
import { errorMessage, type Logger } from "@skiff/common";
import type { TlsMaterial } from "@skiff/pki";
import { agentError } from "../errors.js";
import type { IncomingVm } from "../registry/incoming.js";
import type { VmRef, VmRegistry, VmSpecInput, VmView } from "../registry/registry.js";

export interface TargetDeps {
  readonly registry: VmRegistry;
  /** Address the stream server binds, and the one the source is told. */
  readonly bindHost: string;
  readonly advertiseHost: string;
  /** This node's TLS material: the incoming VMM serves the stream with it (absent: plaintext). */
  readonly tls?: TlsMaterial;
  readonly log: Logger;
  /**
   * A VM with a NIC committed here (its guest ran its first instruction): the node switch takes
   * its port and announces it (network/node-network.ts).
   */
  readonly claimNic?: (vmId: string) => void;
}

interface Pending {
  readonly migrationId: string;
  readonly epoch: number;
  readonly vm: IncomingVm;
  readonly hasNic: boolean;
  adopted: Promise<VmView | undefined> | undefined;
}

const DEFAULT_TIMEOUT_MS = 60_000;

export class MigrationTargets {
  private readonly pending = new Map<string, Pending>();
  private readonly log: Logger;

  constructor(private readonly deps: TargetDeps) {
    this.log = deps.log.child({ part: "migration-target" });
  }

  async prepare(
    ref: VmRef,
    input: VmSpecInput,
    migrationId: string,
    timeoutMs: number,
  ): Promise<{ streamAddress: string; token: string }> {
    const { registry } = this.deps;
    if (migrationId === "") throw agentError("INVALID_ARGUMENT", "migration_id is required");
    if (registry.has(ref.vmId)) {
      throw agentError("VM_EXISTS", `vm ${ref.vmId} already runs on this node`, { vmId: ref.vmId });
    }
    const old = this.pending.get(ref.vmId);
    if (old) await this.abort(ref.vmId, old.migrationId);
    const token = randomBytes(24).toString("base64url");
    const vm = await registry.prepareIncoming(
      ref,
      input,
      {
        migrationId,
        token,
        host: this.deps.bindHost,
        ...(this.deps.tls ? { tls: this.deps.tls.files } : {}),
        timeoutMs: timeoutMs > 0 ? timeoutMs : DEFAULT_TIMEOUT_MS,
      },
      () => void this.adopt(ref.vmId),
    );
    const { client } = vm;
    const p: Pending = {
      migrationId,
      epoch: ref.epoch,
      vm,
      hasNic: input.nics.length > 0,
      adopted: undefined,
    };
    this.pending.set(ref.vmId, p);
    void client.closed.then(() => {
      if (this.pending.get(ref.vmId) !== p) return;
      this.pending.delete(ref.vmId);
      // Gone before committing: its shell too (the VMM removes it itself when it can).
      if (!vm.committed() && !p.adopted) vm.discard();
    });
    try {
      await client.request("watch", {});
      const { port } = await client.request("incomingAttach", {});
      this.log.info({ vmId: ref.vmId, migrationId, port, epoch: ref.epoch }, "migration target prepared");
      return { streamAddress: `${this.deps.advertiseHost}:${port}`, token };
    } catch (err) {
      client.close();
      await vm.kill(2000).catch(() => undefined);
      vm.discard();
      throw agentError("MIGRATION_TARGET_FAILED", `incoming VMM: ${errorMessage(err)}`);
    }
  }

  /** The VMM committed: take the VM into the registry, then let the VMM answer the source. */
  private adopt(vmId: string): Promise<VmView | undefined> {
    const p = this.pending.get(vmId);
    if (!p) return Promise.resolve(undefined);
    // First thing at the commit: the source's guest has stopped for good, this one runs, and
    // frames must come here (the control plane's next map says the same).
    if (!p.adopted && p.hasNic) this.deps.claimNic?.(vmId);
    p.adopted ??= (async () => {
      let view: VmView | undefined;
      try {
        view = await this.deps.registry.adopt(vmId);
        this.log.info({ vmId, migrationId: p.migrationId, epoch: p.epoch }, "migration target committed");
      } catch (err) {
        this.log.error({ vmId, err: errorMessage(err) }, "cannot adopt a committed VM");
      }
      await p.vm.client.request("incomingAdopted", {}, 3000).catch(() => undefined);
      if (this.pending.get(vmId) === p) this.pending.delete(vmId);
      p.vm.client.close();
      return view;
    })();
    return p.adopted;
  }

  /** Discards the shell unless it committed. */
  async abort(vmId: string, migrationId: string): Promise<{ committed: boolean; vm?: VmView }> {
    const { registry } = this.deps;
    const p = this.pending.get(vmId);
    if (!p || (migrationId !== "" && p.migrationId !== migrationId)) {
      return registry.has(vmId) ? { committed: true, vm: registry.get(vmId) } : { committed: false };
    }
    if (p.adopted) {
      const vm = await p.adopted;
      return vm ? { committed: true, vm } : { committed: true };
    }
    let answer: { committed: boolean } | undefined;
    try {
      answer = await p.vm.client.request("incomingAbort", { migrationId: p.migrationId }, 5000);
    } catch {
      answer = undefined;
    }
    if (answer?.committed) {
      const vm = await this.adopt(vmId);
      return vm ? { committed: true, vm } : { committed: true };
    }
    if (answer === undefined && p.vm.alive()) {
      // It does not answer: stop it for good, then the record on disk says whether it committed.
      await p.vm.kill(1000).catch(() => undefined);
    }
    await Promise.race([p.vm.client.closed, new Promise((r) => setTimeout(r, 3000))]);
    // Gone for good before its dir is reused: a VMM still discarding its shell would remove the
    // next shell's dir (a new prepare for the same VM comes right after an abort).
    if (p.vm.alive()) await p.vm.kill(1000).catch(() => undefined);
    if (p.vm.committed()) {
      const vm = await this.adopt(vmId).catch(() => undefined);
      return vm ? { committed: true, vm } : { committed: true };
    }
    this.pending.delete(vmId);
    p.vm.discard();
    this.log.info({ vmId, migrationId: p.migrationId }, "migration target discarded");
    return { committed: false };
  }

  /** Agent shutdown: incoming shells discard themselves once this agent's connections close. */
  close(): void {
    for (const p of this.pending.values()) p.vm.client.close();
  }
}
