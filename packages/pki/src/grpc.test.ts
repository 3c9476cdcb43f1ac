/** Real gRPC over loopback with the credentials of grpc.ts: who gets through, who is refused. */
import { mkdtempSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import {
  type Client,
  makeGenericClientConstructor,
  Server,
  type ServerUnaryCall,
  type ServiceError,
  type sendUnaryData,
} from "@grpc/grpc-js";
import { createLogger } from "@skiff/common";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { ensureIssued, initCa, loadTls, type TlsMaterial, tlsFilesIn } from "./files.js";
import { callerIdentity, channelCredentials, logRefusedClients, serverCredentials } from "./grpc.js";
import { createCa, issueCert } from "./issue.js";
import { tlsRefusals } from "./refusals.js";
import type { RevocationList } from "./revocation.js";

const id = (b: Buffer) => b;
const service = {
  whoami: {
    path: "/test.Echo/WhoAmI",
    requestStream: false,
    responseStream: false,
    requestSerialize: id,
    requestDeserialize: id,
    responseSerialize: id,
    responseDeserialize: id,
  },
};
const EchoClient = makeGenericClientConstructor(service, "Echo");
const log = createLogger("pki-test");

let dir: string;
let server: Server;
let port: number;
const material: Record<string, TlsMaterial> = {};

function whoami(tls: TlsMaterial | undefined, expect: string, revocations?: RevocationList): Promise<string> {
  const client = new EchoClient(
    `127.0.0.1:${port}`,
    channelCredentials(tls, expect, log, undefined, revocations),
  ) as unknown as Client & {
    whoami(req: Buffer, opts: object, cb: (err: ServiceError | null, res?: Buffer) => void): void;
  };
  return new Promise<string>((resolve, reject) => {
    client.whoami(Buffer.alloc(0), { deadline: Date.now() + 5000 }, (err, res) =>
      err ? reject(err) : resolve(res?.toString() ?? ""),
    );
  }).finally(() => client.close());
}

beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), "skiff-pki-"));
  await initCa(dir, "test");
  for (const who of ["node:a", "api"]) {
    await ensureIssued(dir, who);
    material[who] = loadTls(tlsFilesIn(dir, who), who);
  }
  // A certificate of another region, kept beside this region's CA.
  const foreign = await issueCert(await createCa("elsewhere"), "api", { days: 30 });
  material.foreign = {
    ...material.api!,
    cert: Buffer.from(foreign.certPem),
    key: Buffer.from(foreign.keyPem),
  };

  server = new Server();
  server.addService(service, {
    whoami: (call: ServerUnaryCall<Buffer, Buffer>, cb: sendUnaryData<Buffer>) =>
      cb(null, Buffer.from(callerIdentity(call) ?? "?")),
  });
  port = await new Promise<number>((resolve, reject) =>
    server.bindAsync("127.0.0.1:0", serverCredentials(material["node:a"]), (e, p) =>
      e ? reject(e) : resolve(p),
    ),
  );
  logRefusedClients(server, log);
});

afterAll(() => server?.forceShutdown());

describe("mutual TLS over gRPC", () => {
  it("lets a region client reach the node it expects, and the server sees who called", async () => {
    expect(await whoami(material.api, "node:a")).toBe("api");
  });

  it("refuses a server naming another node, and counts it", async () => {
    const before = tlsRefusals()["wrong-identity"] ?? 0;
    await expect(whoami(material.api, "node:b")).rejects.toThrow(/names node:a, expected node:b/);
    expect(tlsRefusals()["wrong-identity"]).toBe(before + 1);
  });

  it("refuses a server whose node was revoked after its certificate was issued, saying so", async () => {
    const before = tlsRefusals().revoked ?? 0;
    const later = { revokedAt: (id: string) => (id === "node:a" ? new Date(Date.now() + 1000) : undefined) };
    await expect(whoami(material.api, "node:a", later)).rejects.toThrow(/NODE_REVOKED: node:a was revoked/);
    expect(tlsRefusals().revoked).toBe(before + 1);
    // Revoked before its certificate was issued: a node added again with a new certificate.
    const earlier = { revokedAt: () => new Date(0) };
    expect(await whoami(material.api, "node:a", earlier)).toBe("api");
  });

  it("refuses a client of another CA at the handshake, and counts it", async () => {
    const before = tlsRefusals().handshake ?? 0;
    await expect(whoami(material.foreign, "node:a")).rejects.toMatchObject({ code: 14 });
    await expect.poll(() => tlsRefusals().handshake ?? 0).toBeGreaterThan(before);
  });

  it("refuses a plaintext client", async () => {
    await expect(whoami(undefined, "node:a")).rejects.toMatchObject({ code: 14 });
  });
});
