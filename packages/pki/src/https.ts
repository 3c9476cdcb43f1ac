/**
 * The same mutual TLS for plain HTTPS (the agents' registration and heartbeats): the server
 * demands a client certificate from the region CA; the client checks that the server names whom
 * it meant to reach. Who the client is (and whether that node was revoked) is judged per request.
 */
import type { Socket } from "node:net";
import { type SecureContextOptions, TLSSocket } from "node:tls";
import type { Logger } from "@skiff/common";
import type { TlsMaterial } from "./files.js";
import { identityOf } from "./identity.js";
import type { CertifiedPeer } from "./revocation.js";
import { type ServerIdentityCheck, serverIdentityCheck } from "./server-check.js";
import { parseCert } from "./verify.js";

export interface HttpsServerTls extends SecureContextOptions {
  readonly requestCert: true;
  readonly rejectUnauthorized: true;
}

/**
 * Options for https.createServer: the handshake fails for a client without a certificate of the
 * region CA (pair with logHandshakeRefusals to log and count those).
 */
export function httpsServerOptions(tls: TlsMaterial): HttpsServerTls {
  return { ca: tls.ca, cert: tls.cert, key: tls.key, requestCert: true, rejectUnauthorized: true };
}

export type HttpsClientTls = SecureContextOptions & { checkServerIdentity: ServerIdentityCheck };

/** Options for https.request that accept only a server certificate naming `expect`. */
export function httpsClientOptions(tls: TlsMaterial, expect: string, log: Logger): HttpsClientTls {
  return {
    ca: tls.ca,
    cert: tls.cert,
    key: tls.key,
    checkServerIdentity: serverIdentityCheck(tls, expect, log),
  };
}

/**
 * The client certificate the handshake of a connection accepted: whom it names ("" for no one)
 * and when it was issued (undefined: plaintext, or none verified).
 */
export function socketPeer(socket: Socket): CertifiedPeer | undefined {
  if (!(socket instanceof TLSSocket) || !socket.authorized) return undefined;
  const cert = parseCert(socket.getPeerCertificate().raw ?? Buffer.alloc(0));
  return cert ? { identity: identityOf(cert) ?? "", issuedAt: new Date(cert.validFrom) } : undefined;
}
