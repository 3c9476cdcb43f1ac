import { flag, positionals, stringOpt, UsageError } from "../args.js";
import { type Command, emit } from "../command.js";
import { describe, formatAge, formatBytes, table } from "../format.js";
import { nodeId } from "../resolve.js";
import type { NodeInfo } from "../types.js";
import { idempotencyKey, LIST_HELP, LIST_OPTIONS, listCommand, MUTATE_OPTIONS } from "./common.js";

function vpsCount(n: number): string {
  return n === 1 ? "1 VPS" : `${n} VPSes`;
}

export function nodeStatus(n: NodeInfo): string {
  return n.maintenance ? `${n.status},maintenance` : n.status;
}

export function nodeTable(items: readonly NodeInfo[], now = Date.now()): string {
  return table(items, [
    { header: "id", value: (n) => n.id },
    { header: "name", value: (n) => n.name },
    { header: "status", value: nodeStatus },
    { header: "address", value: (n) => n.grpcAddress },
    { header: "vps", value: (n) => String(n.reserved.vpsCount), align: "right" },
    { header: "vcpus", value: (n) => `${n.reserved.vcpus}/${n.capacity.cpus}`, align: "right" },
    {
      header: "memory",
      value: (n) => `${formatBytes(n.reserved.memoryBytes)}/${formatBytes(n.capacity.memoryBytes)}`,
      align: "right",
    },
    { header: "cpu%", value: (n) => n.usage.cpuPercent.toFixed(0), align: "right" },
    { header: "heartbeat", value: (n) => formatAge(n.lastHeartbeatAt, now), align: "right" },
  ]);
}

const list: Command = {
  path: ["nodes", "list"],
  usage: "[--status ready|unreachable|fenced] [--maintenance | --in-service]",
  summary: "list nodes with what their VPSes reserve (operators)",
  details: LIST_HELP,
  options: {
    ...LIST_OPTIONS,
    status: { type: "string" },
    maintenance: { type: "boolean" },
    "in-service": { type: "boolean" },
  },
  async run(ctx) {
    positionals(ctx.args, []);
    const v = ctx.args.values;
    if (flag(v, "maintenance") && flag(v, "in-service")) {
      throw new UsageError("--maintenance and --in-service exclude each other");
    }
    const maintenance = flag(v, "maintenance") ? "true" : flag(v, "in-service") ? "false" : undefined;
    return listCommand<NodeInfo>(
      ctx,
      "/v1/nodes",
      { status: stringOpt(v, "status"), maintenance },
      (items) => nodeTable(items),
      "No nodes registered.",
    );
  },
};

const get: Command = {
  path: ["nodes", "get"],
  usage: "<node>",
  summary: "show one node (by id or name): capacity, reservations, usage",
  async run(ctx) {
    const [ref] = positionals(ctx.args, ["node"]);
    const n = await ctx.api.get<NodeInfo>(`/v1/nodes/${await nodeId(ctx.api, ref!)}`);
    emit(ctx, n, () => describe(n as unknown as Record<string, unknown>));
    return 0;
  },
};

function maintenanceCommand(verb: "drain" | "undrain"): Command {
  return {
    path: ["nodes", verb],
    usage: "<node>",
    summary:
      verb === "drain"
        ? "put a node in maintenance: nothing new is placed there, its VPSes move off"
        : "return a node to service",
    options: MUTATE_OPTIONS,
    async run(ctx) {
      const [ref] = positionals(ctx.args, ["node"]);
      const id = await nodeId(ctx.api, ref!);
      const n = await ctx.api.post<NodeInfo>(`/v1/nodes/${id}/${verb}`, undefined, idempotencyKey(ctx));
      emit(ctx, n, () => `${n.name}  ${nodeStatus(n)}  (${vpsCount(n.reserved.vpsCount)})\n`);
      return 0;
    },
  };
}

export const nodeCommands: Command[] = [
  list,
  get,
  maintenanceCommand("drain"),
  maintenanceCommand("undrain"),
];
