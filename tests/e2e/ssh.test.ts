// SSH into a VPS, as a customer does it: an SSH key added to the project, a VPS created with it,
// then `ssh root@<ipv4>` from the region gateway's namespace runs a command. On the way: the key
// travels in the VM spec to the agent, the guest fetches it at boot from the metadata service its
// node's switch answers at 169.254.169.254, and Dropbear accepts it. A key the VPS was not given
// is refused, and the server offers no password method.
import { execFile, execFileSync } from "node:child_process";
import { randomBytes } from "node:crypto";
import { join } from "node:path";
import { pathToFileURL } from "node:url";
import { promisify } from "node:util";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { built, type Cluster, root, startCluster, waitFor } from "./api-cluster.js";

const run = promisify(execFile);

// biome-ignore lint/suspicious/noExplicitAny: JSON bodies
type Json = any;

/** The part of @skiff/net's Gateway this test uses (loaded from its build, as the local cluster does). */
interface Gateway {
  readonly endpoint: { host: string; port: number };
  setMap(map: unknown): Promise<boolean>;
  stop(): Promise<void>;
}
interface NetModule {
  Gateway: { start(options: { netns: string }): Promise<Gateway> };
  gatewayUnavailableReason(): Promise<string | undefined>;
}

const net = (await import(pathToFileURL(join(root, "packages/net/dist/index.js")).href)) as NetModule;
const unavailable = await net.gatewayUnavailableReason();
if (unavailable) console.warn(`ssh test skipped: ${unavailable}`);
let sshMissing = false;
try {
  execFileSync("ssh-keygen", ["-?"], { stdio: "ignore" });
} catch (err) {
  sshMissing = (err as { code?: string }).code === "ENOENT";
}
if (sshMissing)
  console.warn("ssh test skipped: ssh-keygen is not installed (apt-get install openssh-client)");

const ns = `skiff-ssh-${randomBytes(3).toString("hex")}`;
let gateway: Gateway | undefined;
let c: Cluster;
let token: string;

/** ssh from the gateway's namespace, never asking anything and never remembering the host. */
async function ssh(
  key: string,
  ip: string,
  command: string,
): Promise<{ code: number; stdout: string; stderr: string }> {
  const args = ["netns", "exec", ns, "ssh", "-F", "/dev/null", "-i", key, "-o", "IdentitiesOnly=yes"];
  args.push("-o", "BatchMode=yes", "-o", "StrictHostKeyChecking=no", "-o", "UserKnownHostsFile=/dev/null");
  args.push("-o", "ConnectTimeout=10", "-o", "LogLevel=ERROR", `root@${ip}`, command);
  try {
    const { stdout, stderr } = await run("ip", args, { timeout: 60_000 });
    return { code: 0, stdout, stderr };
  } catch (err) {
    const e = err as { code?: number; stdout?: string; stderr?: string };
    return { code: typeof e.code === "number" ? e.code : -1, stdout: e.stdout ?? "", stderr: e.stderr ?? "" };
  }
}

function keygen(name: string): string {
  const file = join(c.dir, name);
  execFileSync("ssh-keygen", ["-q", "-t", "ed25519", "-N", "", "-C", `${name}@e2e`, "-f", file]);
  return file;
}

describe.skipIf(!built || !!unavailable || sshMissing)(
  "ssh into a VPS: API, agent, metadata service, Dropbear",
  () => {
    beforeAll(async () => {
      gateway = await net.Gateway.start({ netns: ns });
      c = await startCluster({
        agents: 1,
        apiEnv: { SKIFF_GATEWAY_OVERLAY: `${gateway.endpoint.host}:${gateway.endpoint.port}` },
      });
      const p = await c.call("POST", "/v1/projects", { name: "ssh-e2e" });
      token = (await c.call("POST", "/v1/tokens", { name: "e2e", projectId: p.body.id })).body.token;
    }, 120_000);

    afterAll(async () => {
      await c?.stop();
      await gateway?.stop();
    }, 60_000);

    it("logs in with the VPS's key and runs a command; refuses another key", async () => {
      const good = keygen("laptop");
      const wrong = keygen("stranger");
      const pub = execFileSync("cat", [`${good}.pub`], { encoding: "utf8" });
      const added = await c.call("POST", "/v1/ssh-keys", { name: "laptop", publicKey: pub }, token);
      expect(added.status, JSON.stringify(added.body)).toBe(201);

      const created = await c.call(
        "POST",
        "/v1/vps",
        { name: "sshbox", plan: "small", sshKeys: ["laptop"] },
        token,
      );
      expect(created.status, JSON.stringify(created.body)).toBe(202);
      const v: Json = await waitFor(
        "the VPS runs",
        async () => {
          const cur = (await c.call("GET", `/v1/vps/${created.body.id}`, undefined, token)).body;
          if (cur.state === "error") throw new Error(`VPS: ${cur.stateReason}`);
          return cur.state === "running" ? cur : undefined;
        },
        120_000,
      );
      // The gateway follows the region's map (the local cluster polls it the same way).
      await waitFor(
        "the gateway holds the map with the VPS",
        async () => {
          const map = (await c.call("GET", "/v1/network-map")).body;
          await gateway?.setMap(map);
          return map.ports.some((port: Json) => port.vpsId === v.id) || undefined;
        },
        30_000,
      );

      // Dropbear starts once the guest has booted and fetched its keys.
      const command =
        "uname -a; wget -qO- http://169.254.169.254/metadata/v1/hostname; cat /root/.ssh/authorized_keys";
      let login = { code: -1, stdout: "", stderr: "" };
      await waitFor(
        "ssh logs in",
        async () => {
          login = await ssh(good, v.ipv4, command);
          return login.code === 0 || undefined;
        },
        180_000,
      ).catch((err: Error) => {
        throw new Error(`${err.message}; last attempt: exit ${login.code}, ${login.stderr}`);
      });
      const [uname, hostname, ...keys] = login.stdout.trim().split("\n");
      expect(uname).toMatch(/^Linux sshbox \S+ .* riscv32/);
      // The metadata service, asked from inside the guest, knows it by its name.
      expect(hostname).toBe("sshbox");
      expect(keys).toEqual([pub.trim()]);

      const refused = await ssh(wrong, v.ipv4, "uname -a");
      expect(refused.code).toBe(255);
      expect(refused.stdout).toBe("");
      // The methods the server offers, in OpenSSH's message: public keys only.
      expect(refused.stderr).toContain("Permission denied (publickey)");
    }, 360_000);
  },
);
