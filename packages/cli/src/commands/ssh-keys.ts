/** `skiff ssh-keys add|list|delete`: the project's SSH public keys, given to VPSes at creation. */
import { readFileSync } from "node:fs";
import { resolve } from "node:path";
import { positionals, stringOpt, UsageError } from "../args.js";
import { type Command, emit } from "../command.js";
import { formatAge, table } from "../format.js";
import type { SshKey } from "../types.js";
import { idempotencyKey, LIST_HELP, LIST_OPTIONS, listCommand, MUTATE_OPTIONS } from "./common.js";

/** The public key from a .pub file; a private key file is refused before it leaves this machine. */
function readPublicKey(cwd: string, file: string): string {
  let text: string;
  try {
    text = readFileSync(resolve(cwd, file), "utf8");
  } catch (err) {
    throw new UsageError(`cannot read ${file}: ${(err as Error).message}`);
  }
  if (text.includes("PRIVATE KEY")) throw new UsageError(`${file} is a private key: give its .pub file`);
  return text.trim();
}

const add: Command = {
  path: ["ssh-keys", "add"],
  usage: "<name> <public-key-file> [--project ID]",
  summary: "add an SSH public key (e.g. ~/.ssh/id_ed25519.pub) to the project",
  details:
    "  VPSes created with `vps create --ssh-key NAME` let root log in with it (keys only, no passwords).",
  options: { ...MUTATE_OPTIONS, project: { type: "string" } },
  async run(ctx) {
    const [name, file] = positionals(ctx.args, ["name", "public-key-file"]);
    const body = {
      name,
      publicKey: readPublicKey(ctx.io.cwd, file!),
      projectId: stringOpt(ctx.args.values, "project"),
    };
    const key = await ctx.api.post<SshKey>("/v1/ssh-keys", body, idempotencyKey(ctx));
    emit(ctx, key, () => `ssh key ${key.name} added: ${key.fingerprint}\n`);
    return 0;
  },
};

const list: Command = {
  path: ["ssh-keys", "list"],
  usage: "[--project ID]",
  summary: "list SSH keys with their fingerprints",
  details: LIST_HELP,
  options: { ...LIST_OPTIONS, project: { type: "string" } },
  async run(ctx) {
    positionals(ctx.args, []);
    return listCommand<SshKey>(
      ctx,
      "/v1/ssh-keys",
      { projectId: stringOpt(ctx.args.values, "project") },
      (items) =>
        table(items, [
          { header: "name", value: (k) => k.name },
          { header: "type", value: (k) => k.publicKey.split(" ")[0] ?? "" },
          { header: "fingerprint", value: (k) => k.fingerprint },
          { header: "comment", value: (k) => k.publicKey.split(" ").slice(2).join(" ") || "-" },
          { header: "age", value: (k) => formatAge(k.createdAt), align: "right" },
        ]),
      "No SSH keys.",
    );
  },
};

const del: Command = {
  path: ["ssh-keys", "delete"],
  usage: "<key>",
  summary: "delete an SSH key (VPSes created with it keep it)",
  async run(ctx) {
    const [ref] = positionals(ctx.args, ["key"]);
    await ctx.api.delete<null>(`/v1/ssh-keys/${encodeURIComponent(ref!)}`);
    emit(ctx, { key: ref, deleted: true }, () => `ssh key ${ref} deleted\n`);
    return 0;
  },
};

export const sshKeyCommands: Command[] = [add, list, del];
