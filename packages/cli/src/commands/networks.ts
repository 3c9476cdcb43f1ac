import { positionals, stringOpt } from "../args.js";
import type { Command } from "../command.js";
import { formatAge, table } from "../format.js";
import type { Network } from "../types.js";
import { LIST_HELP, LIST_OPTIONS, listCommand } from "./common.js";

export function networkTable(items: readonly Network[]): string {
  return table(items, [
    { header: "id", value: (n) => n.id },
    { header: "name", value: (n) => n.name },
    { header: "cidr", value: (n) => n.cidr },
    { header: "gateway", value: (n) => n.gateway.ipv4 },
    { header: "vni", value: (n) => String(n.vni), align: "right" },
    { header: "project", value: (n) => n.projectId },
    { header: "age", value: (n) => formatAge(n.createdAt), align: "right" },
  ]);
}

const listNetworks: Command = {
  path: ["networks", "list"],
  usage: "[--project ID]",
  summary: "list private networks (yours; operators: every project's)",
  details: [
    "  A project's network is made when its first VPS is placed; each VPS has an address in it.",
    "  --project ID   operators: one project's networks",
    LIST_HELP,
  ].join("\n"),
  options: { ...LIST_OPTIONS, project: { type: "string" } },
  async run(ctx) {
    positionals(ctx.args, []);
    const query = { projectId: stringOpt(ctx.args.values, "project") };
    return listCommand<Network>(ctx, "/v1/networks", query, networkTable, "No networks.");
  },
};

export const networkCommands: Command[] = [listNetworks];
