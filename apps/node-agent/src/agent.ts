/**
 * The node agent: the VM registry (reattached from the data dir), the NodeAgent gRPC service, and
 * the link to the control plane, started and stopped in that order.
 */
import { mkdirSync, readFileSync } from "node:fs";
import { Server } from "@grpc/grpc-js";
import type { Logger } from "@skiff/common";
import {
  channelCredentials,
  loadTls,
  logRefusedClients,
  nodeIdentity,
  nodeNameOf,
  serverCredentials,
  type TlsMaterial,
  tlsRefusals,
  warnIfPlaintext,
} from "@skiff/pki";
import { NodeAgentClient, NodeAgentService } from "@skiff/proto";
import type { AgentConfig } from "./config.js";
import { ControlPlaneLink, type VmReport } from "./control-plane/registration.js";
import { guardCallers } from "./grpc/callers.js";
import { nodeAgentService } from "./grpc/service.js";
import { HostStats } from "./host/stats.js";
import { coldMoveService } from "./migration/cold-service.js";
import { ColdImports } from "./migration/cold-target.js";
import { migrationService } from "./migration/service.js";
import { MigrationSources } from "./migration/source.js";
import { MigrationTargets } from "./migration/target.js";
import { NodeNetwork } from "./network/node-network.js";
import { networkService } from "./network/service.js";
import { VmRegistry, type VmView } from "./registry/registry.js";
import { SpecResolver } from "./registry/spec.js";
import { DiskSnapshots } from "./storage/disk-snapshots.js";
import { SharedStorage, type StorageReport } from "./storage/shared.js";

export const AGENT_VERSION: string = (
  JSON.parse(readFileSync(new URL("../package.json", import.meta.url), "utf8")) as { version: string }
).version;

function report(v: VmView): VmReport {
  return {
    vmId: v.record.vmId,
    epoch: v.record.epoch,
    state: v.record.state,
    memoryBytes: v.record.spec.memoryBytes,
    cpuShare: v.status?.cpuShare ?? 0,
    dirtyPagesPerSec: v.status?.dirtyPagesPerSec ?? 0,
  };
}

export class Agent {
  readonly registry: VmRegistry;
  private readonly host: HostStats;
  private server: Server | undefined;
  private link: ControlPlaneLink | undefined;
  /** The node switch (VPS networks); up from start() on. */
  network: NodeNetwork | undefined;
  /** Incoming live migrations (this node as the destination). */
  private readonly targets: MigrationTargets;
  /** Incoming cold moves (this node as the destination). */
  private readonly imports: ColdImports;
  /** User snapshots of VM disks. */
  private readonly snapshots: DiskSnapshots;
  /** Where VM disks live, as told to the control plane. */
  readonly storage: StorageReport;
  /** This node's certificate and the region CA (undefined: SKIFF_TLS=off). */
  private readonly tls: TlsMaterial | undefined;
  port = 0;

  constructor(
    private readonly config: AgentConfig,
    private readonly log: Logger,
  ) {
    mkdirSync(config.dataDir, { recursive: true });
    // Read first: a node without a usable certificate stops here, naming the file.
    this.tls = config.tls.mode === "on" ? loadTls(config.tls.files, nodeIdentity(config.name)) : undefined;
    this.host = new HostStats(config.dataDir, {
      cpus: config.cpus,
      memoryBytes: config.memoryBytes,
      diskBytes: config.diskBytes,
    });
    const shared = config.storage.kind === "shared" ? SharedStorage.open(config.storage.dir) : undefined;
    this.storage = shared ? { backend: "shared", id: shared.id } : { backend: "local", id: "" };
    this.registry = new VmRegistry({
      dataDir: config.dataDir,
      storage: shared,
      nodeName: config.name,
      repoRoot: config.repoRoot,
      log,
      vmmNice: config.vmmNice,
      vmmOverheadMib: config.vmmOverheadMib,
      stopTimeoutMs: config.stopTimeoutMs,
    });
    this.snapshots = new DiskSnapshots(this.registry, config.dataDir, shared);
    this.imports = new ColdImports({
      registry: this.registry,
      specs: new SpecResolver({
        repoRoot: config.repoRoot,
        storage: shared,
        vmmOverheadMib: config.vmmOverheadMib,
      }),
      dataDir: config.dataDir,
      nodeName: config.name,
      token: config.token,
      connect: (address, node) =>
        new NodeAgentClient(
          address,
          channelCredentials(
            this.tls,
            node === "" ? (id) => nodeNameOf(id) !== undefined : nodeIdentity(node),
            log,
          ),
        ),
      log,
    });
    this.targets = new MigrationTargets({
      registry: this.registry,
      bindHost: config.host,
      advertiseHost: config.advertiseHost,
      ...(this.tls ? { tls: this.tls } : {}),
      log,
      claimNic: (vmId) => this.network?.claim(vmId),
    });
  }

  async start(): Promise<void> {
    const c = this.config;
    const network = await NodeNetwork.start({
      nodeId: c.name,
      bindHost: c.host,
      advertiseHost: c.advertiseHost,
      overlayPort: c.overlayPort,
      log: this.log,
    });
    this.network = network;
    this.registry.useNetwork(network);
    await this.registry.load();
    const server = new Server({ "grpc.max_receive_message_length": 16 * 1024 * 1024 });
    const rpcs = {
      ...nodeAgentService({
        registry: this.registry,
        host: this.host,
        token: c.token,
        nodeName: c.name,
        agentVersion: AGENT_VERSION,
        storage: this.storage,
        log: this.log,
      }),
      ...migrationService({
        sources: new MigrationSources({
          registry: this.registry,
          token: c.token,
          ...(this.tls ? { tls: this.tls } : {}),
          log: this.log,
          handOverNic: (vmId, node) => network.handOver(vmId, node),
        }),
        targets: this.targets,
        imports: this.imports,
        token: c.token,
        log: this.log,
      }),
      ...coldMoveService({
        registry: this.registry,
        imports: this.imports,
        snapshots: this.snapshots,
        token: c.token,
        log: this.log,
      }),
      ...networkService({ network, token: c.token, log: this.log }),
    };
    server.addService(NodeAgentService, guardCallers(rpcs, this.tls !== undefined, this.log));
    this.port = await new Promise<number>((resolve, reject) => {
      server.bindAsync(`${c.host}:${c.grpcPort}`, serverCredentials(this.tls), (err, port) =>
        err ? reject(err) : resolve(port),
      );
    });
    if (this.tls) logRefusedClients(server, this.log);
    warnIfPlaintext(this.log, c.tls);
    this.server = server;
    this.log.info(
      {
        address: `${c.host}:${this.port}`,
        vms: this.registry.list().length,
        storage: this.storage,
        tls: c.tls.mode,
      },
      "node agent serving",
    );
    if (c.apiUrl !== "") {
      this.link = new ControlPlaneLink({
        apiUrl: c.apiUrl,
        token: c.token,
        log: this.log,
        ...(this.tls ? { tls: this.tls } : {}),
        source: {
          registration: () => {
            const cap = this.host.capacity();
            return {
              name: c.name,
              grpcAddress: `${c.advertiseHost}:${this.port}`,
              capacity: { cpus: cap.cpus, memoryBytes: cap.memoryBytes, diskBytes: cap.diskBytes },
              labels: { ...c.labels },
              storage: { ...this.storage },
              agentVersion: AGENT_VERSION,
              vms: this.registry.list().map(report),
              overlayEndpoint: network.endpoint,
            };
          },
          heartbeat: () => {
            const use = this.host.usage();
            const vms = this.registry.list();
            return {
              usage: {
                cpuPercent: use.cpuPercent,
                memoryUsedBytes: use.memoryUsedBytes,
                vmCount: vms.length,
              },
              vms: vms.map(report),
              // 0 when the switch holds no map: the API takes no negative version, and the region's
              // maps start at 1, so a node reporting 0 is sent the map again.
              networkMapVersion: Math.max(0, network.version),
              tlsRefusals: tlsRefusals(),
            };
          },
        },
      });
      this.link.start();
    }
  }

  /**
   * SIGTERM: stop taking calls (in-flight unary calls finish, console streams are cut after a
   * grace period), let VM commands complete, send a last heartbeat, let go of the VMMs. VMs keep
   * running and are reattached by the next agent.
   */
  async stop(graceMs = 5000): Promise<void> {
    const server = this.server;
    if (server) {
      await new Promise<void>((resolve) => {
        const force = setTimeout(() => {
          server.forceShutdown();
          resolve();
        }, graceMs);
        server.tryShutdown(() => {
          clearTimeout(force);
          resolve();
        });
      });
    }
    this.targets.close();
    this.imports.close();
    await this.registry.close(graceMs);
    // VMMs keep their guests' NICs and reconnect to the next agent's switch.
    await this.network?.close();
    await this.link?.stop();
    this.log.info("node agent stopped; VMs left running");
  }
}
