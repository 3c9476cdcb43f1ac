#!/usr/bin/env node
import { copyFileSync, mkdirSync } from "node:fs";
import { basename, join } from "node:path";
/**
 * skiff-pki: the region CA on the command line (docker-compose's bootstrap job, operators).
 *   skiff-pki init  --dir D [--region R]                 a CA in D unless one is there
 *   skiff-pki issue --dir D [--days N] [--host H]... [--out O] [--renew] ID...
 *                                                       a certificate for each ID (api, node:<name>)
 * Both are idempotent: a valid certificate is kept, one expiring within 30 days is renewed;
 * --renew issues new ones anyway (a node added again after it was revoked).
 * --out also copies ca.pem and the certificates and keys into O (one component's directory, so
 * the CA's key and the other components' keys stay where they are).
 */
import { parseArgs } from "node:util";
import { ensureIssued, initCa, type TlsFiles } from "./files.js";

function copyInto(dir: string, files: TlsFiles): void {
  mkdirSync(dir, { recursive: true });
  copyFileSync(files.ca, join(dir, "ca.pem"));
  copyFileSync(files.cert, join(dir, basename(files.cert)));
  copyFileSync(files.key, join(dir, basename(files.key)));
}

const USAGE =
  "usage: skiff-pki init --dir DIR [--region NAME] | issue --dir DIR [--days N] [--host H]... [--out DIR] [--renew] IDENTITY...";

async function main(argv: string[]): Promise<number> {
  const { values, positionals } = parseArgs({
    args: argv,
    allowPositionals: true,
    options: {
      dir: { type: "string" },
      region: { type: "string", default: "default" },
      days: { type: "string" },
      host: { type: "string", multiple: true, default: [] },
      out: { type: "string" },
      renew: { type: "boolean", default: false },
    },
  });
  const [command, ...ids] = positionals;
  if (
    !values.dir ||
    (command !== "init" && command !== "issue") ||
    (command === "issue" && ids.length === 0)
  ) {
    console.error(USAGE);
    return 2;
  }
  if (command === "init") {
    const made = await initCa(values.dir, values.region);
    console.log(made ? `created the region CA in ${values.dir}` : `a region CA is already in ${values.dir}`);
    return 0;
  }
  const days = values.days === undefined ? undefined : Number(values.days);
  if (days !== undefined && !(Number.isInteger(days) && days > 0)) {
    console.error(`--days: expected a positive integer, got ${values.days}`);
    return 2;
  }
  for (const id of ids) {
    const r = await ensureIssued(values.dir, id, {
      hosts: values.host,
      renew: values.renew,
      ...(days ? { days } : {}),
    });
    console.log(`${r.issued ? "issued" : "kept"} ${id}: ${r.files.cert}`);
    if (values.out) copyInto(values.out, r.files);
  }
  return 0;
}

main(process.argv.slice(2)).then(
  (code) => {
    process.exitCode = code;
  },
  (err: unknown) => {
    console.error(`skiff-pki: ${err instanceof Error ? err.message : String(err)}`);
    process.exitCode = 1;
  },
);
