/**
 * The control plane's side of registration and heartbeats (POST /v1/nodes/register, POST
 * /v1/nodes/:id/heartbeat), recording what agents send and which certificate they showed. It
 * serves HTTPS with the test region's `api` certificate, demanding a client certificate, as the
 * API's agent listener does (or with `identity`'s certificate, to play an impostor).
 */
import type { IncomingMessage } from "node:http";
import { createServer } from "node:https";
import { ensureIssued, httpsServerOptions, loadTls, socketPeer } from "@skiff/pki";
import { testRegion } from "./harness.js";

export interface Seen {
  path: string;
  auth: string | undefined;
  /** The identity the agent's certificate names. */
  peer: string | undefined;
  body: Record<string, unknown>;
  /** The serverTimeMs the stub answered with (a counter, to tell answers apart). */
  answered?: number;
}

export interface ControlPlaneStub {
  readonly url: string;
  readonly seen: Seen[];
  /** The next heartbeat gets 404 NODE_NOT_FOUND (the API forgot the node). */
  forget(): void;
  close(): Promise<void>;
}

function readBody(req: IncomingMessage): Promise<Record<string, unknown>> {
  return new Promise((resolve) => {
    let s = "";
    req.on("data", (c: Buffer) => {
      s += c.toString();
    });
    req.on("end", () => resolve(s === "" ? {} : (JSON.parse(s) as Record<string, unknown>)));
  });
}

export async function controlPlaneStub(port: number, identity = "api"): Promise<ControlPlaneStub> {
  const region = await testRegion();
  const tls = loadTls((await ensureIssued(region.dir, identity)).files, identity);
  const seen: Seen[] = [];
  let known = new Set<string>();
  let n = 0;
  let clock = 0;
  const server = createServer(httpsServerOptions(tls), (req, res) => {
    void readBody(req).then((body) => {
      const entry: Seen = {
        path: req.url ?? "",
        auth: req.headers.authorization,
        peer: socketPeer(req.socket)?.identity,
        body,
      };
      seen.push(entry);
      const serverTimeMs = (entry.answered = ++clock);
      res.setHeader("content-type", "application/json");
      if (req.url === "/v1/nodes/register") {
        const nodeId = `node-${++n}`;
        known.add(nodeId);
        res.end(JSON.stringify({ nodeId, heartbeatIntervalMs: 150, serverTimeMs }));
        return;
      }
      const m = /^\/v1\/nodes\/([^/]+)\/heartbeat$/.exec(req.url ?? "");
      if (m && known.has(m[1]!)) {
        res.end(JSON.stringify({ ok: true, serverTimeMs }));
        return;
      }
      res.statusCode = 404;
      res.end(JSON.stringify({ error: { code: "NODE_NOT_FOUND" } }));
    });
  });
  await new Promise<void>((resolve) => server.listen(port, "127.0.0.1", resolve));
  return {
    url: `https://127.0.0.1:${port}`,
    seen,
    forget: () => {
      known = new Set();
    },
    close: () =>
      new Promise((r) => {
        server.close(() => r());
        server.closeAllConnections();
      }),
  };
}
