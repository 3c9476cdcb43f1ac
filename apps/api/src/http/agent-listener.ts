/**
 * The agents' own listener: HTTPS that demands a client certificate of the region CA, in front of
 * the same Fastify app (routes, authentication, limits and metrics are those of the public
 * listener). Agent routes accept only requests that came this way (routes/nodes.ts); the public
 * listener stays plain HTTP for tenants, operators and browsers.
 */
import { createServer } from "node:https";
import type { AddressInfo } from "node:net";
import type { Logger } from "@skiff/common";
import { httpsServerOptions, logHandshakeRefusals, type TlsMaterial } from "@skiff/pki";
import type { FastifyInstance } from "fastify";

export interface AgentListener {
  readonly address: string;
  close(): Promise<void>;
}

/** Call once the app is ready (after its listen). */
export async function listenForAgents(
  app: FastifyInstance,
  opts: { host: string; port: number; tls: TlsMaterial; log: Logger },
): Promise<AgentListener> {
  const server = createServer(httpsServerOptions(opts.tls), (req, res) => app.routing(req, res));
  logHandshakeRefusals(server, opts.log);
  await new Promise<void>((resolve, reject) => {
    server.once("error", reject);
    server.listen(opts.port, opts.host, () => {
      server.off("error", reject);
      resolve();
    });
  });
  const a = server.address() as AddressInfo;
  return {
    address: `https://${a.family === "IPv6" ? `[${a.address}]` : a.address}:${a.port}`,
    close: () =>
      new Promise<void>((resolve) => {
        server.close(() => resolve());
        server.closeAllConnections();
      }),
  };
}
