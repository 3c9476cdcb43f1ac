/**
 * Real HTTPS over loopback with the options of https.ts: a region certificate gets through and is
 * seen per request; an expired one, another CA's and none are refused by reason, counted, and the
 * server keeps serving.
 */
import { createServer as httpsServer, request, type Server } from "node:https";
import { type AddressInfo, connect } from "node:net";
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
  // The server counts when its side of the handshake ends, which may follow the client's error (and
  // a refusal of an earlier test's client may land meanwhile: at least one more).
  await expect.poll(() => tlsRefusals()[reason] ?? 0, { timeout: 10_000 }).toBeGreaterThan(before);
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

  it("refuses plaintext on the TLS port and judges a garbage certificate malformed, without throwing", async () => {
    await refusalsGrow("handshake", async () => {
      const sock = connect(port, "127.0.0.1");
      sock.on("error", () => undefined);
      // Plaintext where a ClientHello belongs: OpenSSL gives up on the first bytes.
      sock.write("GET / HTTP/1.1\r\nHost: api\r\n\r\n");
      await new Promise((r) => sock.on("close", r));
    });
    expect(verifyPeer(Buffer.from("not a certificate"), parseCertBundle(ca.certPem))).toMatchObject({
      ok: false,
      reason: "malformed",
    });
    const node = material(await issueCert(ca, "node:c", { days: 1 }), "node:c");
    expect(await get(httpsClientOptions(node, "api", log))).toBe("node:c");
  });
});
