import { bytesOpt, flag, intOpt, positionals, stringOpt, UsageError } from "../args.js";
import { type ApiClient, ApiError } from "../client.js";
import { type Command, emit } from "../command.js";
import { formatBytes, orDash, table } from "../format.js";
import { isUuid } from "../resolve.js";
import type { Image, Plan } from "../types.js";
import { idempotencyKey, LIST_HELP, LIST_OPTIONS, listCommand, MUTATE_OPTIONS } from "./common.js";

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

const createPlan: Command = {
  path: ["plans", "create"],
  usage: "<name> --vcpus N --memory SIZE [--disk SIZE] [--cpu-share N]",
  summary: "add a plan (operators)",
  details:
    "  sizes take binary units: --memory 64M --disk 1G; --cpu-share is relative CPU weight (default 100)",
  options: {
    ...MUTATE_OPTIONS,
    vcpus: { type: "string" },
    memory: { type: "string" },
    disk: { type: "string" },
    "cpu-share": { type: "string" },
  },
  async run(ctx) {
    const [name] = positionals(ctx.args, ["name"]);
    const v = ctx.args.values;
    const vcpus = intOpt(v, "vcpus", 1, 64);
    const memoryBytes = bytesOpt(v, "memory");
    if (vcpus === undefined || memoryBytes === undefined)
      throw new UsageError("--vcpus and --memory are required");
    const body = {
      name,
      vcpus,
      memoryBytes,
      diskBytes: bytesOpt(v, "disk") ?? 0,
      cpuShare: intOpt(v, "cpu-share", 1, 100_000),
    };
    const p = await ctx.api.post<Plan>("/v1/plans", body, idempotencyKey(ctx));
    emit(ctx, p, () => planTable([p]));
    return 0;
  },
};

const deletePlan: Command = {
  path: ["plans", "delete"],
  usage: "<plan>",
  summary: "delete a plan no VPS uses (operators)",
  async run(ctx) {
    const [ref] = positionals(ctx.args, ["plan"]);
    const id = await planId(ctx.api, ref!);
    await ctx.api.delete(`/v1/plans/${id}`);
    emit(ctx, { id, deleted: true }, () => `deleted plan ${ref}\n`);
    return 0;
  },
};

/** A plan by id or name (the list is short: plans are a catalogue). */
async function planId(api: ApiClient, ref: string): Promise<string> {
  if (isUuid(ref)) return ref;
  const found = (await api.all<Plan>("/v1/plans")).items.find((p) => p.name === ref);
  if (!found) throw new ApiError(404, "PLAN_NOT_FOUND", `no plan named '${ref}'`);
  return found.id;
}

const createImage: Command = {
  path: ["images", "create"],
  usage:
    "<name> --kernel PATH [--initrd PATH] [--rootfs PATH] [--boot linux|firmware] [--args ARGS] [--default]",
  summary: "add a guest image (operators; paths relative to each node's SKIFF_REPO_ROOT)",
  options: {
    ...MUTATE_OPTIONS,
    kernel: { type: "string" },
    initrd: { type: "string" },
    rootfs: { type: "string" },
    boot: { type: "string" },
    arch: { type: "string" },
    args: { type: "string" },
    default: { type: "boolean" },
  },
  async run(ctx) {
    const [name] = positionals(ctx.args, ["name"]);
    const v = ctx.args.values;
    const kernelPath = stringOpt(v, "kernel");
    if (!kernelPath) throw new UsageError("--kernel is required");
    const boot = stringOpt(v, "boot");
    if (boot !== undefined && boot !== "linux" && boot !== "firmware") {
      throw new UsageError(`--boot must be linux or firmware, got '${boot}'`);
    }
    const body = {
      name,
      kernelPath,
      initrdPath: stringOpt(v, "initrd"),
      rootfsPath: stringOpt(v, "rootfs"),
      bootMode: boot,
      arch: stringOpt(v, "arch"),
      kernelArgs: stringOpt(v, "args"),
      isDefault: flag(v, "default") || undefined,
    };
    const i = await ctx.api.post<Image>("/v1/images", body, idempotencyKey(ctx));
    emit(ctx, i, () => imageTable([i]));
    return 0;
  },
};

export const catalogCommands: Command[] = [
  plans,
  createPlan,
  deletePlan,
  images,
  createImage,
  { ...plans, path: ["plans", "list"], hidden: true },
  { ...images, path: ["images", "list"], hidden: true },
];
