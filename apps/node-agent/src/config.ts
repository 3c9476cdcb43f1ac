import { hostname } from "node:os";
import { isAbsolute, resolve } from "node:path";
import { bytes, int, loadConfig, oneOf, port, str } from "@skiff/common";
import { nodeIdentity, type TlsSetting, tlsConfigSpec, tlsSetting } from "@skiff/pki";
import { agentError } from "./errors.js";
import { migrationNiceSpec } from "./vmm/migration-nice.js";

/** The agent's environment. Side-effect free: scripts/config-docs.mjs renders it into the docs. */
export const agentConfigSpec = {
  apiUrl: str(
    "SKIFF_API_URL",
    "control-plane API the agent registers with (empty: run standalone); with mutual TLS its agent listener, https://host:8443 (SKIFF_API_AGENT_PORT), where the node certificate is shown",
    "",
  ),
  token: str("SKIFF_AGENT_TOKEN", "shared secret: the bearer token for registration and for gRPC callers"),
  name: str(
    "SKIFF_AGENT_NAME",
    "this node's name (its identity towards the control plane)",
    "",
    "(hostname)",
  ),
  grpcPort: port("SKIFF_AGENT_GRPC_PORT", "port of the NodeAgent gRPC service", 7070),
  host: str("HOST", "address the gRPC service binds to and advertises", "127.0.0.1"),
  advertiseHost: str(
    "SKIFF_AGENT_ADVERTISE_HOST",
    "address the control plane dials for gRPC (default: HOST)",
    "",
    "(HOST)",
  ),
  overlayPort: port(
    "SKIFF_AGENT_OVERLAY_PORT",
    "UDP port of this node's switch for the VXLAN overlay between nodes, on HOST (0: one the kernel picks; the agent tells the control plane which at registration)",
    0,
  ),
  dataDir: str(
    "SKIFF_AGENT_DATA_DIR",
    "the agent's own disk: VM records, VMM sockets, snapshots, and VM disks on local storage",
    ".skiff/agent",
  ),
  storage: oneOf(["auto", "local", "shared"] as const)(
    "SKIFF_AGENT_STORAGE",
    "where VM disks live: local (the data dir; a node failure leaves them down until it returns) or shared (SKIFF_AGENT_SHARED_DIR, which every node mounts; VPSes restart elsewhere from their disks); auto: shared when SKIFF_AGENT_SHARED_DIR is set",
    "auto",
  ),
  sharedDir: str(
    "SKIFF_AGENT_SHARED_DIR",
    "storage every node of the cluster mounts (NFS or similar): VM disks and their ownership leases when SKIFF_AGENT_STORAGE is shared",
    "",
    "(none)",
  ),
  repoRoot: str("SKIFF_REPO_ROOT", "base for relative kernel/initrd/disk paths in CreateVm", "", "(cwd)"),
  labels: str("SKIFF_AGENT_LABELS", "node labels for placement, as k=v,k2=v2", ""),
  cpus: int("SKIFF_AGENT_CPUS", "cores this node offers to the control plane (0: the host's)", 0, "(host)"),
  memoryBytes: bytes(
    "SKIFF_AGENT_MEMORY",
    "memory this node offers, e.g. 8G (0: the host's); several agents on one host each take a share",
    0,
    "(host)",
  ),
  diskBytes: bytes(
    "SKIFF_AGENT_DISK",
    "disk this node offers, e.g. 100G (0: the data dir's filesystem)",
    0,
    "(host)",
  ),
  stopTimeoutMs: int("SKIFF_AGENT_STOP_TIMEOUT_MS", "how long StopVm waits for a guest to power off", 30_000),
  vmmNice: int("SKIFF_VMM_NICE", "nice level of VMM processes (the agent stays responsive under load)", 5),
  migrationNice: migrationNiceSpec,
  vmmOverheadMib: int(
    "SKIFF_VMM_OVERHEAD_MIB",
    "host memory a VMM may use above its guest RAM before it is stopped as out of memory",
    192,
  ),
  ...tlsConfigSpec,
};

export interface AgentConfig {
  readonly apiUrl: string;
  readonly token: string;
  readonly name: string;
  readonly grpcPort: number;
  readonly host: string;
  readonly advertiseHost: string;
  /** UDP port of the node switch's overlay endpoint (0: any free one). */
  readonly overlayPort: number;
  readonly dataDir: string;
  /** Where VM disks live (see storage/shared.ts). */
  readonly storage: StorageConfig;
  readonly repoRoot: string;
  readonly labels: Readonly<Record<string, string>>;
  /** Capacity overrides (0 = measure the host). */
  readonly cpus: number;
  readonly memoryBytes: number;
  readonly diskBytes: number;
  readonly stopTimeoutMs: number;
  readonly vmmNice: number;
  /** Read by the VMMs themselves (vmm/migrate-priority.ts); validated here at the agent's start. */
  readonly migrationNice: number;
  readonly vmmOverheadMib: number;
  /** Mutual TLS on the gRPC service and towards other agents (certificate `node:<name>`). */
  readonly tls: TlsSetting;
}

/** The storage backend of VM disks: the agent's data dir, or a directory every node mounts. */
export type StorageConfig = { readonly kind: "local" } | { readonly kind: "shared"; readonly dir: string };

export function parseLabels(raw: string): Record<string, string> {
  const out: Record<string, string> = {};
  for (const part of raw.split(",")) {
    const t = part.trim();
    if (t === "") continue;
    const eq = t.indexOf("=");
    if (eq <= 0) throw new Error(`SKIFF_AGENT_LABELS: expected k=v, got "${t}"`);
    out[t.slice(0, eq).trim()] = t.slice(eq + 1).trim();
  }
  return out;
}

export function loadAgentConfig(env: Record<string, string | undefined> = process.env): AgentConfig {
  const c = loadConfig(agentConfigSpec, env);
  const repoRoot = c.repoRoot === "" ? process.cwd() : resolve(c.repoRoot);
  const abs = (p: string) => (isAbsolute(p) ? p : resolve(repoRoot, p));
  const { storage: kind, sharedDir, tls, tlsDir, tlsCa, tlsCert, tlsKey, ...rest } = c;
  if (kind === "shared" && sharedDir === "") {
    throw agentError("CONFIG_INVALID", "SKIFF_AGENT_STORAGE=shared needs SKIFF_AGENT_SHARED_DIR", {
      variable: "SKIFF_AGENT_SHARED_DIR",
    });
  }
  if (tls === "on" && c.apiUrl !== "" && !c.apiUrl.startsWith("https://")) {
    throw agentError(
      "CONFIG_INVALID",
      `SKIFF_API_URL ${c.apiUrl}: with mutual TLS the agent registers on the API's agent listener, https:// (SKIFF_API_AGENT_PORT on the API); plaintext needs SKIFF_TLS=off`,
      { variable: "SKIFF_API_URL" },
    );
  }
  const shared = kind === "shared" || (kind === "auto" && sharedDir !== "");
  const name = c.name === "" ? hostname() : c.name;
  return {
    ...rest,
    name,
    advertiseHost: c.advertiseHost === "" ? c.host : c.advertiseHost,
    dataDir: abs(c.dataDir),
    storage: shared ? { kind: "shared", dir: abs(sharedDir) } : { kind: "local" },
    repoRoot,
    labels: parseLabels(c.labels),
    tls: tlsSetting({ tls, tlsDir, tlsCa, tlsCert, tlsKey }, nodeIdentity(name), repoRoot),
  };
}
