import { flag, positionals, stringOpt, UsageError } from "../args.js";
import { type Command, emit } from "../command.js";
import { describe, formatAge, formatBytes, table } from "../format.js";
import { nodeId } from "../resolve.js";
import type { DrainProgress, NodeInfo } from "../types.js";
import {
  idempotencyKey,
  LIST_HELP,
  LIST_OPTIONS,
  listCommand,
  MUTATE_OPTIONS,
  WAIT_OPTIONS,
  waitFor,
} from "./common.js";
import { confirm } from "./vps.js";

function vpsCount(n: number): string {
  return n === 1 ? "1 VPS" : `${n} VPSes`;
}

export function nodeStatus(n: NodeInfo): string {
  return n.maintenance ? `${n.status},maintenance` : n.status;
}

function hostOf(n: NodeInfo): string {
  return n.grpcAddress.replace(/:\d+$/, "");
}

/**
 * Nodes by name (node-2 before node-10), with notes under the table for what the figures do not
 * say themselves: vCPUs reserved past a node's cores (overcommit) and CPU% that is one machine's.
 */
export function nodeTable(items: readonly NodeInfo[], now = Date.now()): string {
  const rows = [...items].sort((a, b) => a.name.localeCompare(b.name, "en", { numeric: true }));
  const over = rows.some((n) => n.reserved.vcpus > n.capacity.cpus);
  const hosts = new Set(rows.map(hostOf));
  const body = table(rows, [
    { header: "id", value: (n) => n.id },
    { header: "name", value: (n) => n.name },
    { header: "status", value: nodeStatus },
    { header: "address", value: (n) => n.grpcAddress },
    { header: "vps", value: (n) => String(n.reserved.vpsCount), align: "right" },
    {
      header: "vcpus",
      value: (n) => `${n.reserved.vcpus}/${n.capacity.cpus}${n.reserved.vcpus > n.capacity.cpus ? "*" : ""}`,
      align: "right",
    },
    {
      header: "memory",
      value: (n) => `${formatBytes(n.reserved.memoryBytes)}/${formatBytes(n.capacity.memoryBytes)}`,
      align: "right",
    },
    { header: "host cpu%", value: (n) => n.usage.cpuPercent.toFixed(0), align: "right" },
    { header: "heartbeat", value: (n) => formatAge(n.lastHeartbeatAt, now), align: "right" },
  ]);
  const notes = [
    "VCPUS and MEMORY: reserved by VPSes / the node's capacity.",
    ...(over
      ? ["* more vCPUs reserved than cores (overcommit): VPSes share the cores by their CPU share."]
      : []),
    ...(rows.length > 1 && hosts.size === 1
      ? [`All nodes run on one host (${[...hosts][0]}): HOST CPU% is that machine's, the same for each.`]
      : []),
  ];
  return `${body}\n${notes.join("\n")}\n`;
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

/** "node-2: 3 VPSes left, 1 migrating, 2 moved, 0 failed" (+ why some cannot move). */
export function drainLine(d: DrainProgress): string {
  const head = d.done
    ? `${d.name}: drained (${d.completed} moved${d.failed ? `, ${d.failed} failed attempts` : ""})`
    : `${d.name}: ${vpsCount(d.remaining)} left, ${d.migrating} migrating, ${d.completed} moved, ${d.failed} failed`;
  const stuck = [
    ...d.waiting.map((x) => ["waiting", x] as const),
    ...d.blocked.map((x) => ["blocked", x] as const),
  ];
  return `${head}\n${stuck.map(([k, x]) => `  ${k}: ${x.vpsName}: ${x.reason}\n`).join("")}`;
}

const drainStatus: Command = {
  path: ["nodes", "drain-status"],
  usage: "<node>",
  summary: "how far a drain has come: VPSes left, migrating, moved, and what blocks the rest",
  async run(ctx) {
    const [ref] = positionals(ctx.args, ["node"]);
    const d = await ctx.api.get<DrainProgress>(`/v1/nodes/${await nodeId(ctx.api, ref!)}/drain`);
    emit(ctx, d, () => (d.maintenance ? drainLine(d) : `${d.name}: not draining (in service)\n`));
    return 0;
  },
};

const drain: Command = {
  path: ["nodes", "drain"],
  usage: "<node> [--wait]",
  summary: "put a node in maintenance: nothing new is placed there, its VPSes move off",
  details: "  --wait   follow the drain until the node is empty, printing progress on stderr (--timeout 30m)",
  options: { ...MUTATE_OPTIONS, ...WAIT_OPTIONS },
  async run(ctx) {
    const [ref] = positionals(ctx.args, ["node"]);
    const id = await nodeId(ctx.api, ref!);
    const n = await ctx.api.post<NodeInfo>(`/v1/nodes/${id}/drain`, undefined, idempotencyKey(ctx));
    if (!flag(ctx.args.values, "wait")) {
      emit(ctx, n, () => `${n.name}  ${nodeStatus(n)}  (${vpsCount(n.reserved.vpsCount)})\n`);
      return 0;
    }
    let last = "";
    const d = await waitFor(
      ctx,
      {
        what: `the drain of ${n.name}`,
        follow: `skiff nodes drain-status ${n.name}`,
        defaultTimeoutMs: 30 * 60_000,
      },
      () => ctx.api.get<DrainProgress>(`/v1/nodes/${id}/drain`),
      (p) => {
        const line = drainLine(p);
        if (!ctx.json && line !== last && !p.done) ctx.io.err(line);
        last = line;
        return p.done || !p.maintenance;
      },
    );
    emit(ctx, d, () => (d.done ? drainLine(d) : `${d.name}: drain stopped (the node is back in service)\n`));
    return 0;
  },
};

const undrain: Command = {
  path: ["nodes", "undrain"],
  usage: "<node>",
  summary: "return a node to service",
  options: MUTATE_OPTIONS,
  async run(ctx) {
    const [ref] = positionals(ctx.args, ["node"]);
    const id = await nodeId(ctx.api, ref!);
    const n = await ctx.api.post<NodeInfo>(`/v1/nodes/${id}/undrain`, undefined, idempotencyKey(ctx));
    emit(ctx, n, () => `${n.name}  ${nodeStatus(n)}  (${vpsCount(n.reserved.vpsCount)})\n`);
    return 0;
  },
};

const revoke: Command = {
  path: ["nodes", "revoke"],
  usage: "<node> [--reason TEXT] [--yes]",
  summary: "revoke a node for good: fenced, and every certificate naming it issued until now refused",
  details: [
    "  --reason TEXT   why, for the event log",
    "  --yes           do not ask (needed when stdin is not a terminal, e.g. in scripts)",
    "  Only a node holding no VPS (drain it first), or one already fenced. To add it back, issue it",
    "  a new certificate (skiff-pki issue --renew, see the operator guide).",
  ].join("\n"),
  options: { ...MUTATE_OPTIONS, reason: { type: "string" }, yes: { type: "boolean", short: "y" } },
  async run(ctx) {
    const [ref] = positionals(ctx.args, ["node"]);
    const id = await nodeId(ctx.api, ref!);
    if (!flag(ctx.args.values, "yes"))
      await confirm(ctx, `revoke node ${ref} for good (its certificates are refused from now on)?`);
    const reason = stringOpt(ctx.args.values, "reason") ?? "";
    const n = await ctx.api.post<NodeInfo>(`/v1/nodes/${id}/revoke`, { reason }, idempotencyKey(ctx));
    emit(ctx, n, () => `${n.name}  ${nodeStatus(n)}  revoked\n`);
    return 0;
  },
};

export const nodeCommands: Command[] = [list, get, drain, drainStatus, undrain, revoke];
