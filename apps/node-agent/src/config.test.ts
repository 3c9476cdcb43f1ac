import { isSkiffError } from "@skiff/common";
import { describe, expect, it } from "vitest";
import { loadAgentConfig, parseLabels } from "./config.js";

describe("agent config", () => {
  it("parses the contract's environment and resolves relative paths against the repo root", () => {
    const c = loadAgentConfig({
      SKIFF_AGENT_TOKEN: "t",
      SKIFF_AGENT_NAME: "node-1",
      SKIFF_AGENT_GRPC_PORT: "7001",
      SKIFF_AGENT_DATA_DIR: "state/agent",
      SKIFF_REPO_ROOT: "/srv/skiff",
      SKIFF_AGENT_MEMORY: "2G",
      SKIFF_AGENT_LABELS: "zone=a, disk=ssd",
    });
    expect(c).toMatchObject({
      token: "t",
      name: "node-1",
      grpcPort: 7001,
      host: "127.0.0.1",
      advertiseHost: "127.0.0.1",
      dataDir: "/srv/skiff/state/agent",
      memoryBytes: 2 * 2 ** 30,
      cpus: 0,
      labels: { zone: "a", disk: "ssd" },
      apiUrl: "",
    });
  });

  it("takes the storage backend from SKIFF_AGENT_STORAGE (auto: shared when a shared dir is set)", () => {
    const base = { SKIFF_AGENT_TOKEN: "t", SKIFF_REPO_ROOT: "/srv/skiff" };
    expect(loadAgentConfig(base).storage).toEqual({ kind: "local" });
    expect(loadAgentConfig({ ...base, SKIFF_AGENT_SHARED_DIR: "shared" }).storage).toEqual({
      kind: "shared",
      dir: "/srv/skiff/shared",
    });
    expect(
      loadAgentConfig({ ...base, SKIFF_AGENT_STORAGE: "local", SKIFF_AGENT_SHARED_DIR: "/nfs" }).storage,
    ).toEqual({ kind: "local" });
    expect(
      loadAgentConfig({ ...base, SKIFF_AGENT_STORAGE: "shared", SKIFF_AGENT_SHARED_DIR: "/nfs" }).storage,
    ).toEqual({ kind: "shared", dir: "/nfs" });
    expect(() => loadAgentConfig({ ...base, SKIFF_AGENT_STORAGE: "shared" })).toThrow(
      expect.objectContaining({
        code: "CONFIG_INVALID",
        message: expect.stringContaining("SKIFF_AGENT_SHARED_DIR"),
      }),
    );
    expect(() => loadAgentConfig({ ...base, SKIFF_AGENT_STORAGE: "nfs" })).toThrow(/SKIFF_AGENT_STORAGE/);
  });

  it("speaks mutual TLS unless SKIFF_TLS=off, with the node's files in SKIFF_TLS_DIR or named one by one", () => {
    const base = { SKIFF_AGENT_TOKEN: "t", SKIFF_AGENT_NAME: "n1", SKIFF_REPO_ROOT: "/srv/skiff" };
    expect(loadAgentConfig(base).tls).toEqual({
      mode: "on",
      files: {
        ca: "/srv/skiff/.skiff/pki/ca.pem",
        cert: "/srv/skiff/.skiff/pki/node-n1.pem",
        key: "/srv/skiff/.skiff/pki/node-n1.key",
      },
    });
    expect(
      loadAgentConfig({ ...base, SKIFF_TLS_DIR: "/etc/skiff", SKIFF_TLS_CERT: "/run/n1.crt" }).tls,
    ).toEqual({
      mode: "on",
      files: { ca: "/etc/skiff/ca.pem", cert: "/run/n1.crt", key: "/etc/skiff/node-n1.key" },
    });
    expect(loadAgentConfig({ ...base, SKIFF_TLS: "off" }).tls).toEqual({ mode: "off" });
    expect(() => loadAgentConfig({ ...base, SKIFF_TLS: "maybe" })).toThrow(/SKIFF_TLS/);
    // Registration goes to the API's agent listener, where the certificate is shown.
    expect(() => loadAgentConfig({ ...base, SKIFF_API_URL: "http://api:8080" })).toThrow(
      expect.objectContaining({ code: "CONFIG_INVALID", message: expect.stringContaining("https://") }),
    );
    expect(loadAgentConfig({ ...base, SKIFF_API_URL: "https://api:8443" }).apiUrl).toBe("https://api:8443");
    expect(loadAgentConfig({ ...base, SKIFF_TLS: "off", SKIFF_API_URL: "http://api:8080" }).apiUrl).toBe(
      "http://api:8080",
    );
  });

  it("fails fast, naming the variable", () => {
    try {
      loadAgentConfig({});
      expect.unreachable();
    } catch (err) {
      expect(isSkiffError(err) && err.code).toBe("CONFIG_MISSING");
      expect((err as Error).message).toContain("SKIFF_AGENT_TOKEN");
    }
    expect(() => loadAgentConfig({ SKIFF_AGENT_TOKEN: "t", SKIFF_AGENT_GRPC_PORT: "99999" })).toThrow(
      /SKIFF_AGENT_GRPC_PORT/,
    );
    expect(() => parseLabels("zone")).toThrow(/k=v/);
  });
});
