import { execFile, spawn } from "node:child_process";
import { randomBytes } from "node:crypto";
import { readFile, writeFile } from "node:fs/promises";
import { promisify } from "node:util";
import { errorMessage, SkiffError } from "@skiff/common";

const run = promisify(execFile);

/** Runs `ip` with arguments; a failure becomes NET_IP_COMMAND with ip's own message. */
export async function ip(...args: string[]): Promise<string> {
  try {
    const { stdout } = await run("ip", args);
    return stdout;
  } catch (err) {
    const stderr = (err as { stderr?: string }).stderr?.trim() ?? String(err);
    throw new SkiffError("NET_IP_COMMAND", `ip ${args.join(" ")}: ${stderr}`, { args }, { cause: err });
  }
}

/**
 * A namespace to work in: a named one (`ip netns`), or null for the one this process runs in (a
 * gateway container is a namespace of its own already).
 */
export type Netns = string | null;

/** `ip` arguments that act inside `ns`. */
export function inNs(ns: Netns, ...args: string[]): string[] {
  return ns === null ? args : ["-n", ns, ...args];
}

/** Runs `cmd` with `input` on its standard input; rejects with its standard error unless it exits 0. */
export function runWithInput(cmd: string, args: string[], input: string): Promise<void> {
  return new Promise((resolve, reject) => {
    const child = spawn(cmd, args, { stdio: ["pipe", "ignore", "pipe"] });
    let stderr = "";
    child.stderr.on("data", (chunk) => (stderr += chunk));
    child.once("error", reject);
    child.once("close", (code) => {
      if (code === 0) resolve();
      else reject(new Error(`${cmd} ${args.join(" ")}: ${stderr.trim() || `exit ${code}`}`));
    });
    child.stdin.end(input);
  });
}

/** Runs many `ip` commands in one process (`ip -batch -`), inside `ns`: one spawn, not one per rule. */
export async function ipBatch(ns: Netns, commands: string[]): Promise<void> {
  if (commands.length === 0) return;
  await runWithInput("ip", inNs(ns, "-batch", "-"), `${commands.join("\n")}\n`).catch((err) => {
    throw new SkiffError("NET_IP_COMMAND", `in ${ns}: ${errorMessage(err)}`, { ns, commands });
  });
}

export async function namespaceExists(name: string): Promise<boolean> {
  const list = await ip("netns", "list");
  return list.split("\n").some((line) => line.split(" ")[0] === name);
}

export async function deleteNamespace(name: string): Promise<void> {
  if (await namespaceExists(name)) await ip("netns", "del", name);
}

/** Sets a sysctl inside a namespace: /proc/sys/net is per namespace, so the write must run in it. */
export async function nsSysctl(ns: Netns, key: string, value: string): Promise<void> {
  const path = `/proc/sys/${key.replaceAll(".", "/")}`;
  try {
    if (ns === null) {
      // A container's /proc/sys is read-only: there the value must come from its settings
      // (docker-compose's `sysctls`), and a value already right is all that is needed.
      if ((await readFile(path, "utf8")).trim() !== value) await writeFile(path, `${value}\n`);
    } else await run("ip", ["netns", "exec", ns, "sh", "-c", `echo ${value} > ${path}`]);
  } catch (err) {
    throw new SkiffError(
      "NET_SYSCTL",
      `cannot set ${key}=${value} in ${ns ?? "this namespace"}`,
      { ns, key },
      { cause: err },
    );
  }
}

export async function linkExists(name: string): Promise<boolean> {
  try {
    await run("ip", ["link", "show", "dev", name]);
    return true;
  } catch {
    return false;
  }
}

export async function commandExists(command: string): Promise<boolean> {
  try {
    await run("sh", ["-c", `command -v ${command}`]);
    return true;
  } catch {
    return false;
  }
}

/**
 * Why a gateway cannot run here, or undefined when it can: root, `ip`, `socat` and the right to
 * create a namespace (a throwaway one is created and deleted).
 */
export async function gatewayUnavailableReason(): Promise<string | undefined> {
  if (process.getuid?.() !== 0) return "network namespaces need root (CAP_NET_ADMIN)";
  if (!(await commandExists("ip"))) return "iproute2 (ip) is not installed";
  if (!(await commandExists("socat"))) return "socat is not installed (apt-get install socat)";
  const probe = `skiff-probe-${randomBytes(3).toString("hex")}`;
  try {
    await ip("netns", "add", probe);
    await ip("netns", "del", probe);
    return undefined;
  } catch (err) {
    return `the kernel refuses network namespaces: ${(err as Error).message}`;
  }
}
