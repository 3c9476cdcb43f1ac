/**
 * What the region says and what it does, read side by side: the database's placement (through the
 * API) and the VMs each node agent runs (its own gRPC ListVms, not the API's view of it).
 */
import { credentials, Metadata } from "@grpc/grpc-js";
import { createLogger } from "@skiff/common";
import { channelCredentials, nodeIdentity, type TlsMaterial } from "@skiff/pki";
import { NodeAgentClient, type VmInfo, VmState } from "@skiff/proto";
import { AGENT_TOKEN, type AgentPart, type Region } from "./region.js";

export interface Placed {
  readonly id: string;
  readonly name: string;
  readonly state: string;
  readonly nodeId: string | null;
  readonly epoch: number;
}

export interface Running {
  readonly vmId: string;
  readonly node: string;
  readonly epoch: number;
  readonly vmmPid: number;
  /** Guest instructions retired by this copy: a copy that runs has it growing. */
  readonly instret: number;
}

/** One look at the agents: the VMs each reachable one runs; `unreachable` names the others. */
export interface AgentsView {
  readonly running: Running[];
  readonly unreachable: string[];
}

const clients = new Map<number, NodeAgentClient>();

const log = createLogger("chaos-observe");

/** As the control plane: with the region's `api` certificate, expecting the node's own. */
function client(a: AgentPart, tls: TlsMaterial | undefined): NodeAgentClient {
  let c = clients.get(a.port);
  if (!c) {
    const creds = tls ? channelCredentials(tls, nodeIdentity(a.name), log) : credentials.createInsecure();
    c = new NodeAgentClient(`127.0.0.1:${a.port}`, creds);
    clients.set(a.port, c);
  }
  return c;
}

export function closeClients(): void {
  for (const c of clients.values()) c.close();
  clients.clear();
}

function listVms(a: AgentPart, tls: TlsMaterial | undefined): Promise<VmInfo[]> {
  const md = new Metadata();
  md.set("authorization", `Bearer ${AGENT_TOKEN}`);
  return new Promise((resolve, reject) =>
    client(a, tls).listVms({}, md, { deadline: Date.now() + 3000 }, (err, res) =>
      err ? reject(err) : resolve(res?.vms ?? []),
    ),
  );
}

export async function lookAtAgents(region: Region): Promise<AgentsView> {
  const running: Running[] = [];
  const unreachable: string[] = [];
  await Promise.all(
    region.agents.map(async (a) => {
      if (!a.proc || a.frozen) {
        unreachable.push(a.name);
        return;
      }
      try {
        for (const vm of await listVms(a, region.pki?.api)) {
          if (vm.state !== VmState.VM_STATE_RUNNING) continue;
          running.push({
            vmId: vm.ref!.vmId,
            node: a.name,
            epoch: Number(vm.ref!.epoch),
            vmmPid: vm.vmmPid,
            instret: Number(vm.instret),
          });
        }
      } catch {
        unreachable.push(a.name);
      }
    }),
  );
  return { running, unreachable };
}

/**
 * Evidence for VMs that did not settle: what each agent holds of them, in any state (ListVms
 * with its state name), and the VMM pid its data dir records (a live VMM the agent does not list
 * would be an orphan).
 */
export async function agentsHolding(
  region: Region,
  vmIds: readonly string[],
): Promise<Record<string, unknown>> {
  const out: Record<string, unknown> = {};
  await Promise.all(
    region.agents.map(async (a) => {
      const pids = region.vmmPids(a);
      let held: unknown[] | string;
      try {
        held = (await listVms(a, region.pki?.api))
          .filter((vm) => vmIds.includes(vm.ref?.vmId ?? ""))
          .map((vm) => ({
            vmId: vm.ref?.vmId,
            state: VmState[vm.state],
            epoch: Number(vm.ref?.epoch),
            pid: vm.vmmPid,
          }));
      } catch (err) {
        held = `unreachable: ${String(err)}`;
      }
      const recorded = vmIds.filter((id) => pids.has(id)).map((id) => ({ vmId: id, pid: pids.get(id) }));
      out[a.name] = { held, recorded };
    }),
  );
  return out;
}

/** Every live VPS as the database places it, with node names instead of ids. */
export async function lookAtDatabase(region: Region, nodeNames: Map<string, string>): Promise<Placed[]> {
  const out: Placed[] = [];
  let cursor: string | null = null;
  do {
    const r = await region.call("GET", `/v1/vps?limit=500${cursor ? `&cursor=${cursor}` : ""}`);
    if (r.status !== 200) throw new Error(`GET /v1/vps: ${r.status} ${JSON.stringify(r.body)}`);
    for (const v of r.body.items as Placed[]) {
      out.push({ ...v, nodeId: v.nodeId ? (nodeNames.get(v.nodeId) ?? v.nodeId) : null });
    }
    cursor = r.body.nextCursor;
  } while (cursor);
  return out;
}

export async function nodeNamesById(region: Region): Promise<Map<string, string>> {
  const r = await region.call("GET", "/v1/nodes?limit=500");
  return new Map((r.body.items as { id: string; name: string }[]).map((n) => [n.id, n.name]));
}
