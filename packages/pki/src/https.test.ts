/**
 * Real HTTPS over loopback with the options of https.ts: a region certificate gets through and is
 * seen per request; an expired one, another CA's and none are refused by reason, counted, and the
 * server keeps serving.
 */
import { createServer as httpsServer, request, type Server } from "node:https";
import type { AddressInfo } from "node:net";
import { createLogger } from "@skiff/common";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { TlsMaterial } from "./files.js";
import { logHandshakeRefusals } from "./grpc.js";
import { type HttpsClientTls, httpsClientOptions, httpsServerOptions, socketPeer } from "./https.js";
import { createCa, type Issued, issueCert } from "./issue.js";
import { tlsRefusals } from "./refusals.js";
import { parseCertBundle, verifyPeer } from "./verify.js";

const log = createLogger("pki-test");
const DAY = 86_400_000;
let ca: Issued;
let server: Server;
let port: number;

function material(issued: Issued, identity: string): TlsMaterial {
  return {
    files: { ca: "", cert: "", key: "" },
    ca: Buffer.from(ca.certPem),
    caCerts: parseCertBundle(ca.certPem),
    cert: Buffer.from(issued.certPem),
    key: Buffer.from(issued.keyPem),
    identity,
  };
}

/** GET / with `client`: the body (the identity the server saw), or the error's code. */
function get(client: Partial<HttpsClientTls>): Promise<string> {
  return new Promise((resolve) => {
    const req = request({ host: "127.0.0.1", port, path: "/", ...client }, (res) => {
      let body = "";
      res.on("data", (d: Buffer) => (body += d.toString()));
      res.on("end", () => resolve(body));
    });
    req.on("error", (err: Error & { code?: string }) => resolve(`error ${err.code ?? err.message}`));
    req.end();
  });
}

async function refusalsGrow(reason: string, f: () => Promise<unknown>): Promise<void> {
  const before = tlsRefusals()[reason] ?? 0;
  await f();
  // The server counts when its side of the handshake ends, which may follow the client's error.
  for (let i = 0; i < 500 && (tlsRefusals()[reason] ?? 0) === before; i++) {
    await new Promise((r) => setTimeout(r, 20));
  }
  expect(tlsRefusals()[reason] ?? 0).toBe(before + 1);
}

beforeAll(async () => {
  ca = await createCa("test");
  const api = material(await issueCert(ca, "api", { days: 1 }), "api");
  server = httpsServer(httpsServerOptions(api), (req, res) => {
    res.end(socketPeer(req.socket)?.identity ?? "none");
  });
  logHandshakeRefusals(server, log);
  await new Promise<void>((r) => server.listen(0, "127.0.0.1", r));
  port = (server.address() as AddressInfo).port;
});

afterAll(() => server?.close());

describe("mutual TLS over HTTPS", () => {
  it("serves a region certificate, and the request sees whom it names", async () => {
    const node = material(await issueCert(ca, "node:a", { days: 1 }), "node:a");
    expect(await get(httpsClientOptions(node, "api", log))).toBe("node:a");
  });

  it("refuses expired, foreign-CA and missing certificates by reason, and keeps serving", async () => {
    const expired = await issueCert(ca, "node:a", { days: 1, notBefore: new Date(Date.now() - 3 * DAY) });
    const foreign = await issueCert(await createCa("elsewhere"), "node:a", { days: 1 });
    const trustServer = { ca: ca.certPem, checkServerIdentity: () => undefined };
    for (const [reason, cert] of [
      ["expired", expired],
      ["wrong-ca", foreign],
      ["no-certificate", undefined],
    ] as const) {
      await refusalsGrow(reason, async () => {
        const out = await get({ ...trustServer, ...(cert ? { cert: cert.certPem, key: cert.keyPem } : {}) });
        expect(out).toMatch(/^error /);
      });
    }
    const node = material(await issueCert(ca, "node:b", { days: 1 }), "node:b");
    expect(await get(httpsClientOptions(node, "api", log))).toBe("node:b");
  });

  it("the client refuses a server that names someone else", async () => {
    const node = material(await issueCert(ca, "node:a", { days: 1 }), "node:a");
    await refusalsGrow("wrong-identity", async () => {
      expect(await get(httpsClientOptions(node, "node:other", log))).toBe("error TLS_PEER_REFUSED");
    });
  });

  it("judges garbage as malformed without throwing", () => {
    expect(verifyPeer(Buffer.from("not a certificate"), parseCertBundle(ca.certPem))).toMatchObject({
      ok: false,
      reason: "malformed",
    });
  });
});
