#!/usr/bin/env node
// Bootstraps a fresh machine for `npm start` and `npm test`: pnpm, dependencies, system services
// (Redis, PostgreSQL) and the build. Plain Node with no dependencies: it runs before any exist.
// Idempotent: each step checks first and says what it does and why.
import { execFileSync, spawnSync } from "node:child_process";
import { existsSync, mkdirSync, readdirSync } from "node:fs";
import { delimiter, join, resolve } from "node:path";

const root = resolve(import.meta.dirname, "..");
const PNPM_VERSION = "10.34.9";
const toolsDir = join(root, ".skiff", "tools");
const log = (msg) => console.log(`[bootstrap] ${msg}`);

function fail(msg) {
  console.error(`[bootstrap] ERROR: ${msg}`);
  process.exit(1);
}

function run(cmd, args, opts = {}) {
  const r = spawnSync(cmd, args, { stdio: "inherit", cwd: root, ...opts });
  if (r.status !== 0) fail(`\`${cmd} ${args.join(" ")}\` exited with ${r.status ?? r.signal}`);
}

function tryOutput(cmd, args) {
  try {
    return execFileSync(cmd, args, { encoding: "utf8", stdio: ["ignore", "pipe", "ignore"] }).trim();
  } catch {
    return null;
  }
}

function ensurePnpm() {
  const local = join(toolsDir, "node_modules", ".bin", "pnpm");
  if (existsSync(local) && tryOutput(local, ["--version"]) === PNPM_VERSION) return local;
  const onPath = tryOutput("pnpm", ["--version"]);
  if (onPath === PNPM_VERSION) return "pnpm";
  // A private copy under .skiff/ needs no root and never touches a global pnpm the user relies on.
  log(`installing pnpm ${PNPM_VERSION} into .skiff/tools (package manager of this workspace)`);
  mkdirSync(toolsDir, { recursive: true });
  run("npm", ["install", "--prefix", toolsDir, "--no-audit", "--no-fund", `pnpm@${PNPM_VERSION}`]);
  if (!existsSync(local)) fail("pnpm did not install; see npm's output above");
  return local;
}

function findPostgresBin() {
  const base = "/usr/lib/postgresql";
  if (!existsSync(base)) return null;
  const versions = readdirSync(base)
    .filter((v) => existsSync(join(base, v, "bin", "postgres")))
    .sort((a, b) => Number(b) - Number(a));
  return versions.length ? join(base, versions[0], "bin") : null;
}

/** What `npm test` needs beyond `npm start`: QEMU, the reference machine guests are checked on. */
const forTests = process.argv.includes("--test");

function ensureSystemPackages() {
  const missing = [];
  const why = [];
  if (!tryOutput("sh", ["-c", "command -v redis-server"])) missing.push("redis-server");
  if (!findPostgresBin()) missing.push("postgresql");
  if (missing.length > 0) why.push("Skiff keeps its state in PostgreSQL and its queues in Redis");
  if (!tryOutput("sh", ["-c", "command -v socat"])) {
    missing.push("socat");
    why.push("the network gateway relays its TAP interfaces to the switches with socat");
  }
  if (forTests && !tryOutput("sh", ["-c", "command -v ping"])) {
    missing.push("iputils-ping");
    why.push("the network tests ping VPS addresses from the gateway's namespace");
  }
  if (forTests && !tryOutput("sh", ["-c", "command -v ssh-keygen"])) {
    missing.push("openssh-client");
    why.push("the SSH tests log into a VPS with ssh and make their keys with ssh-keygen");
  }
  if (forTests && !tryOutput("sh", ["-c", "command -v nft"])) {
    missing.push("nftables");
    why.push("the gateway's NAT test loads its ruleset with nft in namespaces of its own");
  }
  if (forTests && !tryOutput("sh", ["-c", "command -v chromium"])) {
    missing.push("chromium");
    why.push("the web console's tests drive a headless Chromium");
  }
  if (forTests && !tryOutput("sh", ["-c", "command -v qemu-system-riscv32"])) {
    missing.push("qemu-system-misc");
    why.push("the tests check the guest images and ISA tests on QEMU, the reference machine");
  }
  if (missing.length === 0) return;
  log(`missing ${missing.join(", ")}: ${why.join("; ")}`);
  const isRoot = process.getuid?.() === 0;
  const sudo = !isRoot && tryOutput("sudo", ["-n", "true"]) !== null;
  if (!isRoot && !sudo) {
    fail(
      `installing ${missing.join(", ")} needs root. Run as root, or once: ` +
        `sudo apt-get install -y ${missing.join(" ")}`,
    );
  }
  const prefix = isRoot ? [] : ["sudo", "-n"];
  const apt = (args) => {
    const [cmd, ...rest] = [...prefix, "apt-get", ...args];
    run(cmd, rest, { env: { ...process.env, DEBIAN_FRONTEND: "noninteractive" } });
  };
  log("apt-get update (Debian's package lists)");
  apt(["update", "-qq"]);
  log(`apt-get install ${missing.join(" ")}`);
  apt(["install", "-y", "-qq", "--no-install-recommends", ...missing]);
}

const major = Number(process.versions.node.split(".")[0]);
if (major < 20) fail(`Node ${process.versions.node} is too old: Skiff needs Node 20 or newer`);

const pnpm = ensurePnpm();
ensureSystemPackages();
const env = {
  ...process.env,
  PATH: [join(toolsDir, "node_modules", ".bin"), process.env.PATH].join(delimiter),
  TURBO_TELEMETRY_DISABLED: "1",
  // Prisma's CLI wants a native schema engine it cannot download here; generate does not use it.
  PRISMA_SCHEMA_ENGINE_BINARY: process.env.PRISMA_SCHEMA_ENGINE_BINARY ?? process.execPath,
  PRISMA_HIDE_UPDATE_MESSAGE: "1",
  CHECKPOINT_DISABLE: "1",
};
log("installing dependencies (pnpm install)");
run(pnpm, ["install", "--frozen-lockfile", "--prefer-offline", "--reporter=append-only"], { env });
log("building (turbo run build, cached)");
run(pnpm, ["exec", "turbo", "run", "build", "--output-logs=errors-only"], { env });
log("ready");
