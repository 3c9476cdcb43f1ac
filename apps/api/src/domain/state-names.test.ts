import { existsSync, readdirSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import {
  MigrationState as PrismaMigrationState,
  VpsState as PrismaVpsState,
} from "../generated/prisma/enums.js";
import { openApiDocument } from "../openapi.js";
import {
  MIGRATION_STATE_NAMES,
  MIGRATION_STATES,
  migrationEventType,
  migrationStateName,
  migrationStateOf,
} from "./migration-state.js";
import { VPS_STATES } from "./vps-state.js";

/**
 * One spelling per state everywhere: the OpenAPI document (the contract), the database enums,
 * the events, the CLI and the docs. A state renamed in one place and not the others fails here.
 */
const repo = join(import.meta.dirname, "../../../..");
const read = (path: string) => readFileSync(join(repo, path), "utf8");

/** The values an enum of schema.prisma stores: each member's @map, else its name. */
function prismaEnum(name: string): { members: string[]; stored: string[] } {
  const body = new RegExp(`enum ${name} \\{([^}]*)\\}`).exec(read("prisma/schema.prisma"))?.[1] ?? "";
  const lines = body
    .split("\n")
    .map((l) => l.trim())
    .filter((l) => /^[a-z]/.test(l));
  return {
    members: lines.map((l) => l.split(/\s+/)[0]!),
    stored: lines.map((l) => /@map\("([^"]+)"\)/.exec(l)?.[1] ?? l.split(/\s+/)[0]!),
  };
}

const docs = readdirSync(join(repo, "docs"))
  .filter((f) => f.endsWith(".md"))
  .map((f) => `docs/${f}`)
  .concat(["README.md", "apps/api/README.md", "packages/cli/README.md"])
  .filter((f) => existsSync(join(repo, f)));
const cliSources = readdirSync(join(repo, "packages/cli/src"), { recursive: true, encoding: "utf8" })
  .filter((f) => f.endsWith(".ts") && !f.includes("test"))
  .map((f) => `packages/cli/src/${f}`);

describe("state names", () => {
  it("the OpenAPI document names exactly the domain's states", async () => {
    const schemas = (await openApiDocument()).components.schemas as Record<string, { enum?: string[] }>;
    expect(schemas.MigrationState?.enum).toEqual([...MIGRATION_STATE_NAMES]);
    expect(schemas.VpsState?.enum).toEqual([...VPS_STATES]);
  });

  it("the database stores the public names; Prisma's identifiers map to them in one table", () => {
    const migration = prismaEnum("MigrationState");
    expect(migration.stored).toEqual([...MIGRATION_STATE_NAMES]);
    expect(migration.members).toEqual([...MIGRATION_STATES]);
    expect(Object.values(PrismaMigrationState)).toEqual([...MIGRATION_STATES]);
    for (const s of MIGRATION_STATES) expect(migrationStateOf(migrationStateName(s))).toBe(s);

    const vps = prismaEnum("VpsState");
    expect(vps.stored).toEqual(vps.members);
    expect([...vps.members].sort()).toEqual([...VPS_STATES].sort());
    expect(Object.values(PrismaVpsState).sort()).toEqual([...VPS_STATES].sort());
  });

  it("a migration's closing event is named after its state", () => {
    expect(["completed", "rolled_back", "failed"].map((s) => migrationEventType(s as never))).toEqual([
      "migration.completed",
      "migration.rolled-back",
      "migration.failed",
    ]);
  });

  it("the docs and the CLI spell states as the API does", () => {
    const known = new Set<string>([...VPS_STATES, ...MIGRATION_STATE_NAMES]);
    for (const file of [...docs, ...cliSources]) {
      const text = read(file);
      // Prisma's identifier (and an underscored in-doubt) must not leak into anything public.
      expect({ file, leaked: /rolled_back|in_doubt/.exec(text)?.[0] }).toEqual({ file, leaked: undefined });
      // A state chain (a diagram in a code block or an inline `a → b`, naming two or more
      // states): every step is a state.
      for (const line of stateChains(text)) {
        const steps = line
          .split(/[→⇄|]/)
          // The step before the first arrow ends its part; every later one starts its part.
          .map((part, i) =>
            i === 0
              ? /\b([a-z][a-z-]*[a-z])[\s`)]*$/.exec(part)?.[1]
              : /^[\s`(]*([a-z][a-z-]*[a-z])\b/.exec(part)?.[1],
          )
          .filter((w): w is string => w !== undefined);
        if (steps.filter((w) => known.has(w)).length < 2) continue;
        expect({ file, line, unknown: steps.filter((w) => !known.has(w) && !NOT_STEPS.has(w)) }).toEqual({
          file,
          line,
          unknown: [],
        });
      }
    }
  });
});

/** Words that start a part of a state chain without being a step: "(any) → error", "(live states)". */
const NOT_STEPS = new Set(["any", "most", "states"]);

/** Lines of fenced code blocks and inline code spans that contain an arrow. */
function stateChains(markdown: string): string[] {
  const chains: string[] = [];
  let fenced = false;
  for (const line of markdown.split("\n")) {
    if (line.trimStart().startsWith("```")) fenced = !fenced;
    else if (fenced) chains.push(line);
    else chains.push(...(line.match(/`[^`]*`/g) ?? []).map((span) => span.slice(1, -1)));
  }
  return chains.filter((l) => l.includes("→"));
}
