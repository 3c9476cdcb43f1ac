/**
 * gRPC credentials from a process's TLS material: servers demand a client certificate from the
 * region CA; clients check the server against the CA and that it names the identity they meant to
 * reach (the node the control plane chose). Without material (SKIFF_TLS=off) both are plaintext.
 */
import type { PeerCertificate } from "node:tls";
import { type ChannelCredentials, credentials, type Server, ServerCredentials } from "@grpc/grpc-js";
import type { Logger } from "@skiff/common";
import type { TlsMaterial } from "./files.js";
import { identityOf } from "./identity.js";
import { logRefusal, refusalOfHandshake } from "./refusals.js";
import type { RevocationList } from "./revocation.js";
import { serverIdentityCheck } from "./server-check.js";
import { type PeerVerdict, parseCert } from "./verify.js";

export function serverCredentials(tls: TlsMaterial | undefined): ServerCredentials {
  if (!tls) return ServerCredentials.createInsecure();
  return ServerCredentials.createSsl(tls.ca, [{ cert_chain: tls.cert, private_key: tls.key }], true);
}

/**
 * Client credentials that accept only a server certificate naming `expect` (an identity, or a test
 * of one). Node verified the chain before it asks; a refusal here fails the connection (the call
 * sees UNAVAILABLE) and is logged. `revocations`: certificates the region revoked are refused too.
 */
export function channelCredentials(
  tls: TlsMaterial | undefined,
  expect: string | ((identity: string) => boolean),
  log: Logger,
  onRefused?: (verdict: PeerVerdict) => void,
  revocations?: RevocationList,
): ChannelCredentials {
  if (!tls) return credentials.createInsecure();
  return credentials.createSsl(tls.ca, tls.key, tls.cert, {
    checkServerIdentity: serverIdentityCheck(tls, expect, log, { onRefused, revocations }),
  });
}

/** The identity of a call's client certificate (undefined on a plaintext server). */
export function callerIdentity(call: {
  getAuthContext(): { sslPeerCertificate?: PeerCertificate };
}): string | undefined {
  const raw = call.getAuthContext().sslPeerCertificate?.raw;
  const c = raw ? parseCert(raw) : undefined;
  return c ? identityOf(c) : undefined;
}

export interface TlsErrorSource {
  on(
    event: "tlsClientError",
    f: (
      err: Error & { code?: string },
      socket: { remoteAddress?: string; authorizationError?: unknown },
    ) => void,
  ): void;
}

/**
 * Logs and counts clients a TLS server's handshake refused, by reason (no certificate, another
 * CA, expired, ...): the socket keeps OpenSSL's verdict where the error only says "reset".
 */
export function logHandshakeRefusals(server: TlsErrorSource, log: Logger): void {
  server.on("tlsClientError", (err, socket) => {
    const why = socket.authorizationError;
    logRefusal(log, refusalOfHandshake(why, err.code), {
      peer: socket.remoteAddress ?? "?",
      detail: typeof why === "string" ? why : err.code ? `${err.code}: ${err.message}` : err.message,
      side: "server",
    });
  });
}

/**
 * The same for a gRPC server. grpc-js keeps its listeners in a private field of the pinned
 * version; without it the refusals still happen, only unlogged. Call after bindAsync.
 */
export function logRefusedClients(server: Server, log: Logger): void {
  const servers = (server as unknown as { http2Servers?: Map<TlsErrorSource, unknown> }).http2Servers;
  if (!(servers instanceof Map)) return;
  for (const h of servers.keys()) logHandshakeRefusals(h, log);
}
