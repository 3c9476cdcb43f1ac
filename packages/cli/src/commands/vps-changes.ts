/** `skiff vps rename|resize|rebuild`: what a VPS is, changed in place (its address stays). */
import { positionals, stringOpt, UsageError } from "../args.js";
import type { Command } from "../command.js";
import { vpsId } from "../resolve.js";
import type { Vps } from "../types.js";
import { idempotencyKey, MUTATE_OPTIONS, WAIT_OPTIONS } from "./common.js";
import { finish } from "./vps.js";

const rename: Command = {
  path: ["vps", "rename"],
  usage: "<vps> <new-name>",
  summary: "rename a VPS (nothing else changes)",
  options: { ...MUTATE_OPTIONS },
  async run(ctx) {
    const [ref, name] = positionals(ctx.args, ["vps", "new-name"]);
    const id = await vpsId(ctx.api, ref!);
    return finish(ctx, await ctx.api.patch<Vps>(`/v1/vps/${id}`, { name }, idempotencyKey(ctx)));
  },
};

const resize: Command = {
  path: ["vps", "resize"],
  usage: "<vps> --plan PLAN [--wait]",
  summary: "give a stopped VPS another plan's memory, vCPUs and (larger) disk",
  details: [
    "  The VPS must be stopped; a disk only grows, and the guest sees it larger at its next start.",
    "  When its node has no room for the plan, migrate it first (`skiff vps migrate`).",
  ].join("\n"),
  options: { ...MUTATE_OPTIONS, ...WAIT_OPTIONS, plan: { type: "string" } },
  async run(ctx) {
    const [ref] = positionals(ctx.args, ["vps"]);
    const plan = stringOpt(ctx.args.values, "plan");
    if (!plan) throw new UsageError("--plan is required (see `skiff plans`)");
    const id = await vpsId(ctx.api, ref!);
    return finish(ctx, await ctx.api.post<Vps>(`/v1/vps/${id}/resize`, { plan }, idempotencyKey(ctx)));
  },
};

const rebuild: Command = {
  path: ["vps", "rebuild"],
  usage: "<vps> --image IMAGE [--wait]",
  summary: "make a VPS's disk afresh from an image and boot it (name and address stay)",
  details: "  Everything on the old disk is lost.",
  options: { ...MUTATE_OPTIONS, ...WAIT_OPTIONS, image: { type: "string" } },
  async run(ctx) {
    const [ref] = positionals(ctx.args, ["vps"]);
    const image = stringOpt(ctx.args.values, "image");
    if (!image) throw new UsageError("--image is required (see `skiff images`)");
    const id = await vpsId(ctx.api, ref!);
    return finish(ctx, await ctx.api.post<Vps>(`/v1/vps/${id}/rebuild`, { image }, idempotencyKey(ctx)));
  },
};

export const vpsChangeCommands: Command[] = [rename, resize, rebuild];
