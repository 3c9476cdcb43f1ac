import { positionals } from "../args.js";
import type { Command } from "../command.js";
import { formatBytes, orDash, table } from "../format.js";
import type { Image, Plan } from "../types.js";
import { LIST_HELP, LIST_OPTIONS, listCommand } from "./common.js";

export function planTable(items: readonly Plan[]): string {
  return table(items, [
    { header: "name", value: (p) => p.name },
    { header: "vcpus", value: (p) => String(p.vcpus), align: "right" },
    { header: "memory", value: (p) => formatBytes(p.memoryBytes), align: "right" },
    { header: "disk", value: (p) => formatBytes(p.diskBytes), align: "right" },
    { header: "cpu share", value: (p) => String(p.cpuShare), align: "right" },
    { header: "id", value: (p) => p.id },
  ]);
}

export function imageTable(items: readonly Image[]): string {
  return table(items, [
    { header: "name", value: (i) => (i.isDefault ? `${i.name} (default)` : i.name) },
    { header: "arch", value: (i) => i.arch },
    { header: "boot", value: (i) => i.bootMode },
    { header: "kernel", value: (i) => i.kernelPath },
    { header: "rootfs", value: (i) => orDash(i.rootfsPath) },
    { header: "id", value: (i) => i.id },
  ]);
}

const plans: Command = {
  path: ["plans"],
  usage: "",
  summary: "list the plans a VPS can be created with",
  details: LIST_HELP,
  options: LIST_OPTIONS,
  async run(ctx) {
    positionals(ctx.args, []);
    return listCommand<Plan>(ctx, "/v1/plans", {}, planTable, "No plans.");
  },
};

const images: Command = {
  path: ["images"],
  usage: "",
  summary: "list the guest images a VPS can boot",
  details: LIST_HELP,
  options: LIST_OPTIONS,
  async run(ctx) {
    positionals(ctx.args, []);
    return listCommand<Image>(ctx, "/v1/images", {}, imageTable, "No images.");
  },
};

export const catalogCommands: Command[] = [
  plans,
  images,
  { ...plans, path: ["plans", "list"], hidden: true },
  { ...images, path: ["images", "list"], hidden: true },
];
