/**
 * Who a certificate speaks for. A region's certificates name their holder in the subject's common
 * name: `node:<name>` for a node agent (and its VMMs), `api` for the control plane.
 */
import type { X509Certificate } from "node:crypto";

export const API_IDENTITY = "api";
const NODE_PREFIX = "node:";

export function nodeIdentity(name: string): string {
  return `${NODE_PREFIX}${name}`;
}

/** The node a `node:<name>` identity names, or undefined for another kind of holder. */
export function nodeNameOf(identity: string): string | undefined {
  return identity.startsWith(NODE_PREFIX) ? identity.slice(NODE_PREFIX.length) : undefined;
}

/** The identity in a certificate's subject CN (Node prints the subject as `CN=...` lines). */
export function identityOf(cert: Pick<X509Certificate, "subject">): string | undefined {
  for (const line of cert.subject.split("\n")) {
    if (line.startsWith("CN=")) return line.slice(3);
  }
  return undefined;
}

/** File-name-safe form of an identity (`node:a` → `node-a`), for the certificate directory. */
export function fileStem(identity: string): string {
  return identity.replace(/[^A-Za-z0-9._-]/g, "-");
}
