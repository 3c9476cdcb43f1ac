/** Real agent processes on 127.0.0.1 for tests: a temp data dir, a free port, a gRPC client. */
import { existsSync, readdirSync, readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { type ClientDuplexStream, credentials, Metadata, type ServiceError } from "@grpc/grpc-js";
import { createLogger } from "@skiff/common";
import { freePort, makeTempDir, type Supervised, startProcess, testRegion, waitUntil } from "@skiff/devkit";
import { channelCredentials, nodeIdentity, type TlsMaterial } from "@skiff/pki";
import type * as P from "@skiff/proto";
import {
  BootMode,
  type ConsoleRequest,
  type ConsoleResponse,
  type CreateVmRequest,
  NodeAgentClient,
  VmState,
} from "@skiff/proto";
import { echoFirmware } from "./echo-firmware.js";

const AGENT_MAIN = join(import.meta.dirname, "..", "..", "dist", "main.js");
export const REPO_ROOT = join(import.meta.dirname, "..", "..", "..", "..");
/** The default Linux guest (guests/linux, built by guests/linux/build.sh). */
export const LINUX = {
  kernel: join(REPO_ROOT, "guests", "linux", "Image"),
  initrd: join(REPO_ROOT, "guests", "linux", "initramfs.cpio"),
  disk: join(REPO_ROOT, "guests", "linux", "rootfs.ext2"),
};
export const TOKEN = "test-agent-token";

export interface AgentProcess {
  readonly port: number;
  readonly dataDir: string;
  readonly proc: Supervised;
  stop(signal?: NodeJS.Signals): Promise<void>;
}

/** The control plane's certificate of the test region, once an agent was started. */
let apiTls: TlsMaterial | undefined;

/** Agents this harness started, by port: the name their certificate carries, or plaintext. */
const started = new Map<number, { name: string; tls: boolean }>();

export async function startAgent(opts: {
  dataDir: string;
  port?: number;
  env?: Record<string, string>;
}): Promise<AgentProcess> {
  const port = opts.port ?? (await freePort());
  const name = opts.env?.SKIFF_AGENT_NAME ?? "test-node";
  const tls = opts.env?.SKIFF_TLS !== "off";
  const region = await testRegion();
  apiTls = region.api;
  if (tls) await region.node(name);
  started.set(port, { name, tls });
  const proc = startProcess("node-agent", process.execPath, [AGENT_MAIN], {
    env: {
      ...process.env,
      LOG_LEVEL: process.env.AGENT_LOG_LEVEL ?? "warn",
      SKIFF_AGENT_TOKEN: TOKEN,
      SKIFF_AGENT_NAME: name,
      SKIFF_TLS: "on",
      SKIFF_TLS_DIR: region.dir,
      SKIFF_AGENT_GRPC_PORT: String(port),
      SKIFF_AGENT_DATA_DIR: opts.dataDir,
      SKIFF_API_URL: "",
      HOST: "127.0.0.1",
      SKIFF_REPO_ROOT: REPO_ROOT,
      ...opts.env,
    },
  });
  const c = agentClient(port);
  await waitUntil("agent serving", async () => (await call(c, "nodeStats", {})) !== undefined, {
    proc,
    timeoutMs: 30_000,
  });
  c.close();
  return { port, dataDir: opts.dataDir, proc, stop: (signal) => proc.stop(signal) };
}

/**
 * A client as the control plane: over TLS (holding the `api` certificate, expecting the node
 * started on that port, or `expectNode`) unless the agent there runs plaintext.
 */
export function agentClient(port: number, expectNode?: string): NodeAgentClient {
  const agent = started.get(port);
  if (!agent?.tls || !apiTls) return new NodeAgentClient(`127.0.0.1:${port}`, credentials.createInsecure());
  const creds = channelCredentials(apiTls, nodeIdentity(expectNode ?? agent.name), harnessLog);
  return new NodeAgentClient(`127.0.0.1:${port}`, creds);
}

/** The node name of the agent this harness started on `port` ("" when unknown). */
export function agentName(port: number): string {
  return started.get(port)?.name ?? "";
}

const harnessLog = createLogger("test-harness");

export function auth(token = TOKEN): Metadata {
  const md = new Metadata();
  md.set("authorization", `Bearer ${token}`);
  return md;
}

/** Request and response types of the unary NodeAgent calls. */
interface Unaries {
  createVm: [P.CreateVmRequest, P.CreateVmResponse];
  startVm: [P.StartVmRequest, P.StartVmResponse];
  stopVm: [P.StopVmRequest, P.StopVmResponse];
  rebootVm: [P.RebootVmRequest, P.RebootVmResponse];
  pauseVm: [P.PauseVmRequest, P.PauseVmResponse];
  resumeVm: [P.ResumeVmRequest, P.ResumeVmResponse];
  destroyVm: [P.DestroyVmRequest, P.DestroyVmResponse];
  getVm: [P.GetVmRequest, P.GetVmResponse];
  listVms: [P.ListVmsRequest, P.ListVmsResponse];
  suspendVm: [P.SuspendVmRequest, P.SuspendVmResponse];
  resumeSuspendedVm: [P.ResumeSuspendedVmRequest, P.ResumeSuspendedVmResponse];
  nodeStats: [P.NodeStatsRequest, P.NodeStatsResponse];
  abortMigrationTarget: [P.AbortMigrationTargetRequest, P.AbortMigrationTargetResponse];
  applyNetworkMap: [P.ApplyNetworkMapRequest, P.ApplyNetworkMapResponse];
  importVm: [P.ImportVmRequest, P.ImportVmResponse];
  resizeVm: [P.ResizeVmRequest, P.ResizeVmResponse];
  snapshotDisk: [P.SnapshotDiskRequest, P.SnapshotDiskResponse];
  restoreDiskSnapshot: [P.RestoreDiskSnapshotRequest, P.RestoreDiskSnapshotResponse];
  deleteDiskSnapshot: [P.DeleteDiskSnapshotRequest, P.DeleteDiskSnapshotResponse];
}
type Unary = (req: unknown, md: Metadata, cb: (err: ServiceError | null, res: unknown) => void) => unknown;

/** A unary call as a promise. */
export function call<K extends keyof Unaries>(
  client: NodeAgentClient,
  method: K,
  req: Unaries[K][0],
  md: Metadata = auth(),
): Promise<Unaries[K][1]> {
  return new Promise((resolve, reject) => {
    const fn = client[method] as unknown as Unary;
    fn.call(client, req, md, (err, res) => (err ? reject(err) : resolve(res as Unaries[K][1])));
  });
}

/** A firmware-mode VM running the echo firmware (written into `dir`). */
export function firmwareVm(
  dir: string,
  vmId: string,
  epoch = 1,
  start = true,
  opts: { cpuMillis?: number; vmmOverheadMib?: number } = {},
): CreateVmRequest {
  const kernelPath = join(dir, "echo-firmware.elf");
  writeFileSync(kernelPath, echoFirmware());
  return {
    ref: { vmId, epoch },
    start,
    spec: {
      memoryBytes: 1 << 20,
      vcpus: 1,
      bootMode: BootMode.BOOT_MODE_FIRMWARE,
      kernelPath,
      initrdPath: "",
      diskImagePath: "",
      diskBytes: 0,
      kernelArgs: "",
      limits: { cpuMillis: opts.cpuMillis ?? 0, vmmOverheadMib: opts.vmmOverheadMib ?? 0 },
      labels: {},
      nics: [],
      hostname: "",
      sshPublicKeys: [],
    },
  };
}

/** A Linux VM from the default image (paths relative to the repo root, as the API sends them). */
export function linuxVm(vmId: string, memoryMib = 64, epoch = 1): CreateVmRequest {
  return {
    ref: { vmId, epoch },
    start: true,
    spec: {
      memoryBytes: memoryMib * 1024 * 1024,
      vcpus: 1,
      bootMode: BootMode.BOOT_MODE_LINUX,
      kernelPath: "guests/linux/Image",
      initrdPath: "guests/linux/initramfs.cpio",
      diskImagePath: "guests/linux/rootfs.ext2",
      diskBytes: 0,
      kernelArgs: "",
      labels: {},
      nics: [],
      hostname: "",
      sshPublicKeys: [],
    },
  };
}

/** One console viewer: everything received so far, and typing. */
export class ConsoleViewer {
  text: string;
  replay = "";
  states: VmState[] = [];
  ended = false;
  error: ServiceError | undefined;
  private readonly stream: ClientDuplexStream<ConsoleRequest, ConsoleResponse>;

  /**
   * `carry`: the unfinished last line of the console this one follows (a VM that moved): a line
   * the guest was printing when it paused ends on the new node, and is read whole.
   */
  constructor(
    client: NodeAgentClient,
    vmId: string,
    epoch: number,
    opts: { skipReplay?: boolean; carry?: string } = {},
  ) {
    this.text = opts.carry ?? "";
    this.stream = client.console(auth());
    this.stream.on("data", (r: ConsoleResponse) => {
      const k = r.kind;
      if (k?.$case === "replay") {
        this.replay += k.value.toString();
        this.text += k.value.toString();
      } else if (k?.$case === "output") this.text += k.value.toString();
      else if (k?.$case === "state") this.states.push(k.value);
    });
    this.stream.on("error", (err: ServiceError) => {
      this.error = err;
      this.ended = true;
    });
    this.stream.on("end", () => {
      this.ended = true;
    });
    this.stream.write({
      kind: {
        $case: "attach",
        value: { ref: { vmId, epoch }, skipReplay: opts.skipReplay ?? false, readOnly: false },
      },
    });
  }

  type(s: string): void {
    this.stream.write({ kind: { $case: "input", value: Buffer.from(s) } });
  }

  sendBreak(): void {
    this.stream.write({ kind: { $case: "sendBreak", value: true } });
  }

  async waitFor(what: string | RegExp, timeoutMs = 20_000): Promise<void> {
    await waitUntil(
      `console to show ${what}`,
      () => (typeof what === "string" ? this.text.includes(what) : what.test(this.text)),
      { timeoutMs },
    ).catch((err: Error) => {
      throw new Error(`${err.message}\n--- console so far ---\n${this.text.slice(-2000)}`);
    });
  }

  close(): void {
    this.stream.cancel();
  }
}

export { makeTempDir, testRegion, VmState, waitUntil };

/** The pid of a VM's VMM from its pid file (0 when none). */
export function vmmPid(dataDir: string, vmId: string): number {
  try {
    return Number.parseInt(readFileSync(join(dataDir, "vms", vmId, "vmm.pid"), "utf8"), 10) || 0;
  } catch {
    return 0;
  }
}

export function isAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

/** Kills every VMM left under `dataDir` (they are detached: a test must not leak them). */
export function killVmms(dataDir: string): void {
  const vms = join(dataDir, "vms");
  if (!existsSync(vms)) return;
  for (const id of readdirSync(vms)) {
    const pid = vmmPid(dataDir, id);
    if (pid > 0 && isAlive(pid)) process.kill(pid, "SIGKILL");
  }
}
