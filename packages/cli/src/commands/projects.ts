import { bytesOpt, flag, intOpt, positionals, stringOpt, UsageError } from "../args.js";
import { type Command, type Context, emit } from "../command.js";
import { formatAge, formatBytes, shortId, table } from "../format.js";
import { idempotencyKey, LIST_HELP, LIST_OPTIONS, listCommand, MUTATE_OPTIONS } from "./common.js";

interface Project {
  id: string;
  name: string;
  quotas: { maxVps: number; maxVcpus: number; maxMemoryBytes: number; maxSnapshots: number };
  createdAt: string;
}

interface PlacementGroup {
  id: string;
  projectId: string;
  name: string;
  policy: string;
  strict: boolean;
  createdAt: string;
}

export function projectTable(items: readonly Project[]): string {
  return table(items, [
    { header: "id", value: (p) => p.id },
    { header: "name", value: (p) => p.name },
    { header: "max vps", value: (p) => String(p.quotas.maxVps), align: "right" },
    { header: "max vcpus", value: (p) => String(p.quotas.maxVcpus), align: "right" },
    { header: "max memory", value: (p) => formatBytes(p.quotas.maxMemoryBytes), align: "right" },
    { header: "max snapshots", value: (p) => String(p.quotas.maxSnapshots), align: "right" },
    { header: "age", value: (p) => formatAge(p.createdAt), align: "right" },
  ]);
}

const QUOTA_OPTIONS = {
  "max-vps": { type: "string" },
  "max-vcpus": { type: "string" },
  "max-memory": { type: "string" },
  "max-snapshots": { type: "string" },
} as const;

function quotas(ctx: Context) {
  const v = ctx.args.values;
  const q = {
    maxVps: intOpt(v, "max-vps", 0, 100_000),
    maxVcpus: intOpt(v, "max-vcpus", 0, 1_000_000),
    maxMemoryBytes: bytesOpt(v, "max-memory"),
    maxSnapshots: intOpt(v, "max-snapshots", 0, 100_000),
  };
  return Object.fromEntries(Object.entries(q).filter(([, x]) => x !== undefined));
}

const listProjects: Command = {
  path: ["projects", "list"],
  usage: "",
  summary: "list projects and their quotas (operators)",
  details: LIST_HELP,
  options: LIST_OPTIONS,
  async run(ctx) {
    positionals(ctx.args, []);
    return listCommand<Project>(ctx, "/v1/projects", {}, projectTable, "No projects.");
  },
};

const createProject: Command = {
  path: ["projects", "create"],
  usage: "<name> [--max-vps N] [--max-vcpus N] [--max-memory SIZE] [--max-snapshots N]",
  summary: "create a project (operators); then `skiff tokens create NAME --project ID` for its people",
  options: { ...MUTATE_OPTIONS, ...QUOTA_OPTIONS },
  async run(ctx) {
    const [name] = positionals(ctx.args, ["name"]);
    const p = await ctx.api.post<Project>("/v1/projects", { name, quotas: quotas(ctx) }, idempotencyKey(ctx));
    emit(ctx, p, () => projectTable([p]));
    return 0;
  },
};

const setQuotas: Command = {
  path: ["projects", "quotas"],
  usage: "<project-id> [--max-vps N] [--max-vcpus N] [--max-memory SIZE] [--max-snapshots N]",
  summary: "change a project's quotas (operators)",
  options: { ...MUTATE_OPTIONS, ...QUOTA_OPTIONS },
  async run(ctx) {
    const [id] = positionals(ctx.args, ["project-id"]);
    const q = quotas(ctx);
    if (Object.keys(q).length === 0)
      throw new UsageError("give at least one of --max-vps, --max-vcpus, --max-memory");
    const p = await ctx.api.patch<Project>(`/v1/projects/${id}`, { quotas: q }, idempotencyKey(ctx));
    emit(ctx, p, () => projectTable([p]));
    return 0;
  },
};

export function groupTable(items: readonly PlacementGroup[]): string {
  return table(items, [
    { header: "id", value: (g) => g.id },
    { header: "name", value: (g) => g.name },
    { header: "policy", value: (g) => g.policy.replace("_", "-") },
    { header: "strict", value: (g) => (g.strict ? "yes" : "no") },
    { header: "project", value: (g) => shortId(g.projectId) },
  ]);
}

const listGroups: Command = {
  path: ["groups", "list"],
  usage: "",
  summary: "list placement groups (keep VPSes apart, or together)",
  details: LIST_HELP,
  options: LIST_OPTIONS,
  async run(ctx) {
    positionals(ctx.args, []);
    return listCommand<PlacementGroup>(ctx, "/v1/placement-groups", {}, groupTable, "No placement groups.");
  },
};

const createGroup: Command = {
  path: ["groups", "create"],
  usage: "<name> --policy anti-affinity|affinity [--soft] [--project ID]",
  summary: "create a placement group; pass it to `skiff vps create --group`",
  details: "  strict by default (placement fails rather than break the rule); --soft makes it a preference",
  options: {
    ...MUTATE_OPTIONS,
    policy: { type: "string" },
    soft: { type: "boolean" },
    project: { type: "string" },
  },
  async run(ctx) {
    const [name] = positionals(ctx.args, ["name"]);
    const v = ctx.args.values;
    const policy = stringOpt(v, "policy")?.replace("-", "_");
    if (policy !== "anti_affinity" && policy !== "affinity") {
      throw new UsageError("--policy must be anti-affinity or affinity");
    }
    const body = { name, policy, strict: !flag(v, "soft"), projectId: stringOpt(v, "project") };
    const g = await ctx.api.post<PlacementGroup>("/v1/placement-groups", body, idempotencyKey(ctx));
    emit(ctx, g, () => groupTable([g]));
    return 0;
  },
};

const deleteGroup: Command = {
  path: ["groups", "delete"],
  usage: "<id>",
  summary: "delete an empty placement group",
  async run(ctx) {
    const [id] = positionals(ctx.args, ["id"]);
    await ctx.api.delete(`/v1/placement-groups/${id}`);
    emit(ctx, { id, deleted: true }, () => `deleted placement group ${id}\n`);
    return 0;
  },
};

export const projectCommands: Command[] = [
  listProjects,
  createProject,
  setQuotas,
  listGroups,
  createGroup,
  deleteGroup,
];
