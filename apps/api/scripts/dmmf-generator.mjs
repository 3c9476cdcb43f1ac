#!/usr/bin/env node
// A Prisma generator that only writes the DMMF (Prisma's parsed view of schema.prisma) to the file
// named by its `output`. The schema test uses it to compare the migrated database with the schema.
// Prisma talks to generators in JSON-RPC: requests on our stdin, answers on our stderr.
import { writeFileSync } from "node:fs";
import { createInterface } from "node:readline";

const reply = (id, result) => process.stderr.write(`${JSON.stringify({ jsonrpc: "2.0", id, result })}\n`);

createInterface({ input: process.stdin }).on("line", (line) => {
  if (!line.trim()) return;
  const msg = JSON.parse(line);
  if (msg.method === "getManifest") {
    reply(msg.id, { manifest: { prettyName: "DMMF dump", requiresEngines: [] } });
  } else if (msg.method === "generate") {
    const out = msg.params.generator.output?.value;
    writeFileSync(out, JSON.stringify(msg.params.dmmf));
    reply(msg.id, null);
  }
});
