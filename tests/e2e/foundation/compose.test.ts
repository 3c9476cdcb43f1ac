import { readFileSync } from "node:fs";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { parseDocument } from "yaml";

const root = join(import.meta.dirname, "..", "..", "..");

interface Service {
  image?: string;
  build?: { context: string; target: string };
  healthcheck?: { test: string[] };
  depends_on?: Record<string, { condition: string }>;
  environment?: Record<string, string>;
  volumes?: string[];
  deploy?: { replicas?: number };
}

// No Docker engine runs here: the compose file is kept correct by reading it.
describe("docker-compose.yml", () => {
  const doc = parseDocument(readFileSync(join(root, "docker-compose.yml"), "utf8"), { merge: true });
  const compose = doc.toJS({ maxAliasCount: 100 }) as {
    services: Record<string, Service>;
    volumes: Record<string, unknown>;
  };
  const dockerfile = readFileSync(join(root, "Dockerfile"), "utf8");

  it("is valid YAML", () => {
    expect(doc.errors).toEqual([]);
  });

  it("describes the production shape", () => {
    const s = compose.services;
    expect(Object.keys(s)).toEqual(
      expect.arrayContaining(["postgres", "redis", "api", "node-1", "node-2", "node-3"]),
    );
    expect(s.api?.deploy?.replicas).toBe(2);
    for (const name of ["postgres", "redis", "api", "node-1", "node-2", "node-3"]) {
      expect(s[name]?.healthcheck?.test.length, `${name} has a health check`).toBeGreaterThan(0);
    }
    for (const n of ["node-1", "node-2", "node-3"]) {
      expect(s[n]?.environment?.SKIFF_AGENT_NAME).toBe(n);
      expect(s[n]?.volumes?.some((v) => v.endsWith(":/var/lib/skiff"))).toBe(true);
    }
  });

  it("references only declared volumes, existing services and Dockerfile targets", () => {
    const targets = [...dockerfile.matchAll(/^FROM \S+ AS (\S+)/gm)].map((m) => m[1]);
    for (const [name, svc] of Object.entries(compose.services)) {
      for (const dep of Object.keys(svc.depends_on ?? {}))
        expect(compose.services, `${name} → ${dep}`).toHaveProperty(dep);
      for (const v of svc.volumes ?? []) {
        const src = v.split(":")[0]!;
        if (!src.startsWith("/") && !src.startsWith("."))
          expect(compose.volumes, `${name} volume ${src}`).toHaveProperty(src);
      }
      if (svc.build) expect(targets, `${name} build target`).toContain(svc.build.target);
    }
  });
});
