import { existsSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { pathToFileURL } from "node:url";
import { builtForTests } from "@skiff/devkit";
import { describe, expect, it } from "vitest";
import { parseDocument } from "yaml";

const root = join(import.meta.dirname, "..", "..", "..");

interface Service {
  image?: string;
  restart?: string;
  build?: { context: string; target: string };
  command?: string[];
  hostname?: string;
  healthcheck?: { test: string[] };
  depends_on?: Record<string, { condition: string }>;
  environment?: Record<string, string>;
  volumes?: string[];
  deploy?: { replicas?: number };
  cap_add?: string[];
  devices?: string[];
  sysctls?: Record<string, string>;
}

interface Field {
  env: string;
  default: unknown;
}

const AGENTS = ["node-1", "node-2", "node-3"];
/** Read outside the typed specs: the logger's level, and Node's own. */
const ALSO_READ = ["LOG_LEVEL", "NODE_ENV"];

/** The variable a `${NAME}` / `${NAME:?message}` value refers to, or the literal value. */
const ref = (v: string | undefined): string | undefined => /^\$\{(\w+)[^}]*\}$/.exec(v ?? "")?.[1] ?? v;

/** `ENV a=1 b=2` lines of one Dockerfile stage. */
function dockerfileEnv(dockerfile: string, stage: string): Record<string, string> {
  const body = dockerfile.split(/^FROM /m).find((s) => new RegExp(`^\\S+ AS ${stage}\\s`).test(s)) ?? "";
  const out: Record<string, string> = {};
  for (const line of body.replace(/\\\n/g, " ").split("\n")) {
    if (!line.startsWith("ENV ")) continue;
    for (const m of line.slice(4).matchAll(/(\w+)=(\S+)/g)) out[m[1]!] = m[2]!;
  }
  return out;
}

async function specVars(file: string): Promise<Map<string, Field>> {
  const mod = (await import(pathToFileURL(join(root, file)).href)) as Record<string, unknown>;
  const out = new Map<string, Field>();
  for (const [name, spec] of Object.entries(mod)) {
    if (!name.endsWith("Spec") || !spec || typeof spec !== "object") continue;
    for (const f of Object.values(spec as Record<string, Field>)) out.set(f.env, f);
  }
  return out;
}

// No Docker engine runs here: the compose file is kept correct by reading it, against the code.
describe("docker-compose.yml", () => {
  const doc = parseDocument(readFileSync(join(root, "docker-compose.yml"), "utf8"), { merge: true });
  const compose = doc.toJS({ maxAliasCount: 100 }) as {
    services: Record<string, Service>;
    volumes: Record<string, unknown>;
  };
  const s = compose.services;
  const env = (name: string): Record<string, string> => s[name]?.environment ?? {};
  const dockerfile = readFileSync(join(root, "Dockerfile"), "utf8");
  /** What a service's process sees: its image stage's ENV, then the compose environment. */
  const effective = (name: string) => ({
    ...dockerfileEnv(dockerfile, s[name]?.build?.target ?? ""),
    ...env(name),
  });

  it("is valid YAML", () => {
    expect(doc.errors).toEqual([]);
  });

  it("describes the production shape", () => {
    expect(Object.keys(s)).toEqual(
      expect.arrayContaining(["postgres", "redis", "migrate", "api", ...AGENTS]),
    );
    expect(s.api?.deploy?.replicas).toBe(2);
    for (const name of ["postgres", "redis", "api", ...AGENTS]) {
      expect(s[name]?.healthcheck?.test.length, `${name} has a health check`).toBeGreaterThan(0);
    }
    for (const n of AGENTS) {
      expect(env(n).SKIFF_AGENT_NAME).toBe(n);
      expect(s[n]?.volumes?.some((v) => v.endsWith(":/var/lib/skiff"))).toBe(true);
    }
  });

  it("references only declared volumes, existing services and Dockerfile targets", () => {
    const targets = [...dockerfile.matchAll(/^FROM \S+ AS (\S+)/gm)].map((m) => m[1]);
    for (const [name, svc] of Object.entries(s)) {
      for (const dep of Object.keys(svc.depends_on ?? {})) expect(s, `${name} → ${dep}`).toHaveProperty(dep);
      for (const v of svc.volumes ?? []) {
        const src = v.split(":")[0]!;
        if (!src.startsWith("/") && !src.startsWith("."))
          expect(compose.volumes, `${name} volume ${src}`).toHaveProperty(src);
      }
      if (svc.build) expect(targets, `${name} build target`).toContain(svc.build.target);
    }
  });

  it("every agent binds beyond loopback and advertises a name the API can reach", () => {
    for (const n of AGENTS) {
      const e = effective(n);
      // The agent's own defaults (apps/node-agent/src/config.ts): HOST 127.0.0.1, advertise = HOST.
      const bind = e.HOST ?? "127.0.0.1";
      const advertise = e.SKIFF_AGENT_ADVERTISE_HOST || bind;
      expect(bind, `${n} HOST`).toBe("0.0.0.0");
      expect(advertise, `${n} advertises`).toBe(n);
      expect(s, `${n} advertises a compose service name`).toHaveProperty(advertise);
      // Its health check probes the port it serves.
      const port = e.SKIFF_AGENT_GRPC_PORT ?? "7070";
      expect(s[n]?.healthcheck?.test.join(" ")).toContain(`connect(${port},`);
    }
  });

  it("the API listens where agents and clients look for it, and every URL names a service", () => {
    const api = effective("api");
    expect(api.SKIFF_API_HOST).toBe("0.0.0.0");
    for (const n of AGENTS) {
      const url = new URL(env(n).SKIFF_API_URL ?? "");
      expect(url.hostname, `${n} SKIFF_API_URL`).toBe("api");
      // Agents register on the API's mutual-TLS listener, not the public one.
      expect([url.protocol, url.port], `${n} SKIFF_API_URL`).toEqual(["https:", api.SKIFF_API_AGENT_PORT]);
      expect(ref(env(n).SKIFF_AGENT_TOKEN), `${n} presents the API's agent token`).toBe(
        ref(api.SKIFF_AGENT_TOKEN),
      );
    }
    const pg = env("postgres");
    for (const name of ["api", "migrate"]) {
      const db = new URL(env(name).DATABASE_URL ?? "");
      expect([db.hostname, db.port, db.username, db.pathname.slice(1)], `${name} DATABASE_URL`).toEqual([
        "postgres",
        "5432",
        pg.POSTGRES_USER,
        pg.POSTGRES_DB,
      ]);
      expect(ref(decodeURIComponent(db.password))).toBe(ref(pg.POSTGRES_PASSWORD));
    }
    expect(new URL(env("api").REDIS_URL ?? "").hostname).toBe("redis");
  });

  it("a gateway service gives VPS networks their .1 and outbound NAT, and the API names its overlay", () => {
    const g = effective("gateway");
    expect(s.gateway?.build?.target).toBe("gateway");
    expect(s.gateway?.cap_add).toContain("NET_ADMIN");
    expect(s.gateway?.devices).toContain("/dev/net/tun:/dev/net/tun");
    // Its container is its namespace, whose /proc/sys it cannot write: forwarding comes from here.
    expect(s.gateway?.sysctls?.["net.ipv4.ip_forward"]).toBe("1");
    expect(g.SKIFF_NETNS ?? "", "the container's own namespace").toBe("");
    expect(g.SKIFF_GATEWAY_UPLINK).toBe("eth0");
    expect(new URL(g.SKIFF_API_URL ?? "").hostname).toBe("api");
    expect(ref(g.SKIFF_GATEWAY_TOKEN)).toBe("SKIFF_OPERATOR_TOKEN");
    expect(env("api").SKIFF_GATEWAY_OVERLAY).toBe(`gateway:${g.SKIFF_GATEWAY_OVERLAY_PORT}`);
    expect(dockerfile).toMatch(/AS gateway[\s\S]*apt-get install[^\n]*iproute2 socat nftables/);
  });

  it("the migrate job bootstraps the region before any API replica starts", () => {
    const m = s.migrate!;
    expect(m.command).toEqual(["node", "dist/db/migrate.js", "--bootstrap"]);
    expect(existsSync(join(root, "apps/api/src/db/migrate.ts"))).toBe(true);
    expect(m.environment?.SKIFF_OPERATOR_TOKEN).toMatch(/^\$\{SKIFF_OPERATOR_TOKEN:\?/);
    expect(s.api?.depends_on?.migrate?.condition).toBe("service_completed_successfully");
  });

  it("a one-shot pki job gives the API and each agent its own certificate, and keeps the CA's key", () => {
    const pki = s.pki!;
    expect(pki.restart).toBe("no");
    const script = (pki.command ?? []).join("\n");
    expect(script).toContain("init --dir /ca");
    const mounted = (svc: Service | undefined) =>
      Object.fromEntries(
        (svc?.volumes ?? []).map((v) => v.split(":")).map(([src, dst, mode]) => [src, { dst, mode }]),
      );
    expect(mounted(pki)["pki-ca"]?.dst).toBe("/ca");
    expect(script).toContain("issue --dir /ca --out /out/api api");
    expect(script).toContain(
      `for n in ${AGENTS.join(" ")}; do $$pki issue --dir /ca --out /out/$$n node:$$n`,
    );
    for (const name of ["api", ...AGENTS]) {
      const svc = s[name];
      expect(svc?.depends_on?.pki?.condition, `${name} waits for the pki job`).toBe(
        "service_completed_successfully",
      );
      const own = `pki-${name}`;
      const dir = effective(name).SKIFF_TLS_DIR;
      expect(mounted(svc)[own], `${name} mounts ${own}`).toEqual({ dst: dir, mode: "ro" });
      expect(mounted(pki)[own]?.dst, `the pki job writes ${own}`).toBe(`/out/${name}`);
      expect(mounted(svc)["pki-ca"], `${name} never sees the CA's key`).toBeUndefined();
      expect(effective(name).SKIFF_TLS ?? "on", `${name} speaks TLS`).toBe("on");
    }
  });

  it("secrets must be set: none has a default", () => {
    for (const [name, svc] of Object.entries(s)) {
      for (const [k, v] of Object.entries(svc.environment ?? {})) {
        for (const m of String(v).matchAll(/\$\{(\w+)([^}]*)\}/g)) {
          const [, ref, rest] = m;
          if (!/TOKEN|PASSWORD/.test(ref!)) continue;
          // ${X} alone is fine once another use of X requires it; a ${X:-default} never is.
          expect(rest!.startsWith(":-") || rest!.startsWith("-"), `${name} ${k}`).toBe(false);
        }
      }
    }
  });

  const built = builtForTests(root, [
    "apps/api/dist/config.js",
    "apps/node-agent/dist/config.js",
    "packages/net/dist/gateway/config.js",
  ]);
  it.skipIf(!built)("gives each program only variables its code reads, and all it requires", async () => {
    const agent = await specVars("apps/node-agent/dist/config.js");
    const { migrateSpec, ...apiOnly } = (await import(
      pathToFileURL(join(root, "apps/api/dist/config.js")).href
    )) as Record<string, Record<string, Field>>;
    const migrate = new Map(Object.values(migrateSpec ?? {}).map((f) => [f.env, f]));
    const server = new Map(
      Object.entries(apiOnly)
        .filter(([k]) => k.endsWith("Spec"))
        .flatMap(([, spec]) => Object.values(spec).map((f) => [f.env, f] as const)),
    );
    expect(server.get("DATABASE_URL")).toBeDefined();
    const gateway = await specVars("packages/net/dist/gateway/config.js");
    const programs: [string, Map<string, Field>][] = [
      ["api", server],
      ["migrate", migrate],
      ["gateway", gateway],
      ...AGENTS.map((n) => [n, agent] as [string, Map<string, Field>]),
    ];
    const unread = (spec: Map<string, Field>, vars: Record<string, string>) =>
      Object.keys(vars).filter((k) => !spec.has(k) && !ALSO_READ.includes(k));
    for (const [name, spec] of programs) {
      expect(unread(spec, env(name)), `${name}: variables its config never reads`).toEqual([]);
      const given = effective(name);
      for (const f of spec.values()) {
        if (f.default === undefined) expect(given, `${name} needs ${f.env}`).toHaveProperty(f.env);
      }
    }
    // The images' own ENV defaults are for the program each image runs by default.
    expect(unread(server, dockerfileEnv(dockerfile, "api")), "Dockerfile api ENV").toEqual([]);
    expect(unread(agent, dockerfileEnv(dockerfile, "node-agent")), "Dockerfile node-agent ENV").toEqual([]);
    expect(unread(gateway, dockerfileEnv(dockerfile, "gateway")), "Dockerfile gateway ENV").toEqual([]);
  });
});
