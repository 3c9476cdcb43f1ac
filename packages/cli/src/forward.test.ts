import { type ChildProcess, execFileSync, spawn } from "node:child_process";
import { randomBytes } from "node:crypto";
import { connect } from "node:net";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { parsePortPair } from "./commands/forward.js";
import { startForward } from "./forward.js";

// A namespace of this test's own with an echo service on its loopback (socat, as in a VPS's
// inetd): the forward reaches it only by entering the namespace, like a VPS's address through
// the region gateway's.
const ns = `skiff-fw-${randomBytes(3).toString("hex")}`;
const root = process.getuid?.() === 0;
let echo: ChildProcess | undefined;

function hasSocat(): boolean {
  try {
    execFileSync("socat", ["-V"], { stdio: "ignore" });
    return true;
  } catch {
    return false;
  }
}
const usable = root && hasSocat();

function roundTrip(port: number, text: string): Promise<string> {
  return new Promise((resolve, reject) => {
    const sock = connect(port, "127.0.0.1");
    let got = "";
    sock.on("data", (b) => {
      got += b.toString();
      if (got.length >= text.length) sock.end();
    });
    sock.on("close", () => resolve(got));
    sock.on("error", reject);
    sock.write(text);
  });
}

describe("parsePortPair", () => {
  it("takes <localPort>:<port> and refuses anything else with the form to use", () => {
    expect(parsePortPair("8080:80")).toEqual([8080, 80]);
    expect(parsePortPair("0:22")).toEqual([0, 22]);
    for (const bad of ["80", "8080:0", "70000:80", "a:b", "8080:80:1"]) {
      expect(() => parsePortPair(bad)).toThrow(/is not <localPort>:<port>/);
    }
  });
});

describe.skipIf(!usable)("startForward through a network namespace", () => {
  beforeAll(async () => {
    execFileSync("ip", ["netns", "add", ns]);
    execFileSync("ip", ["-n", ns, "link", "set", "lo", "up"]);
    echo = spawn("ip", [
      "netns",
      "exec",
      ns,
      "socat",
      "TCP-LISTEN:7,bind=127.0.0.1,fork,reuseaddr",
      "EXEC:cat",
    ]);
    // Listening once a connection inside the namespace succeeds.
    for (let i = 0; i < 50; i++) {
      try {
        execFileSync("ip", ["netns", "exec", ns, "socat", "-u", "OPEN:/dev/null", "TCP:127.0.0.1:7"]);
        return;
      } catch {
        await new Promise((r) => setTimeout(r, 100));
      }
    }
  });

  afterAll(() => {
    echo?.kill();
    execFileSync("ip", ["netns", "del", ns]);
  });

  it("relays each local connection to the port inside the namespace, both ways", async () => {
    const fwd = await startForward(0, { netns: ns, host: "127.0.0.1", port: 7 });
    try {
      const texts = ["hello through the namespace\n", "x".repeat(100_000)];
      expect(await Promise.all(texts.map((t) => roundTrip(fwd.port, t)))).toEqual(texts);
    } finally {
      await fwd.close();
    }
  });

  it("closes the local connection when nothing listens at the target", async () => {
    const fwd = await startForward(0, { netns: ns, host: "127.0.0.1", port: 9 });
    try {
      expect(await roundTrip(fwd.port, "anyone?")).toBe("");
    } finally {
      await fwd.close();
    }
  });

  it("says which namespace is missing, and a busy local port", async () => {
    await expect(startForward(0, { netns: `${ns}-none`, host: "127.0.0.1", port: 7 })).rejects.toMatchObject({
      code: "NETNS_NOT_FOUND",
    });
    const fwd = await startForward(0, { netns: ns, host: "127.0.0.1", port: 7 });
    try {
      await expect(startForward(fwd.port, { netns: ns, host: "127.0.0.1", port: 7 })).rejects.toMatchObject({
        code: "PORT_IN_USE",
      });
    } finally {
      await fwd.close();
    }
  });
});
