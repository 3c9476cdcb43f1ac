/**
 * A region's certificates on disk: `ca.pem` (and `ca.key` where certificates are issued), and one
 * `<identity>.pem` / `<identity>.key` pair per component. Keys are written 0600.
 */
import type { X509Certificate } from "node:crypto";
import { existsSync, mkdirSync, readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { SkiffError } from "@skiff/common";
import { fileStem } from "./identity.js";
import { createCa, type Issued, issueCert } from "./issue.js";
import { parseCert, parseCertBundle, verifyPeer } from "./verify.js";

export interface TlsFiles {
  readonly ca: string;
  readonly cert: string;
  readonly key: string;
}

/** What a process holds to speak TLS: the region CA to check peers, its own certificate and key. */
export interface TlsMaterial {
  readonly files: TlsFiles;
  readonly ca: Buffer;
  /** The region CA; two while it is rotated (ca.pem then holds both). */
  readonly caCerts: readonly X509Certificate[];
  readonly cert: Buffer;
  readonly key: Buffer;
  /** The identity this process's certificate names. */
  readonly identity: string;
}

export function tlsFilesIn(dir: string, identity: string): TlsFiles {
  const stem = join(dir, fileStem(identity));
  return { ca: join(dir, "ca.pem"), cert: `${stem}.pem`, key: `${stem}.key` };
}

function read(path: string, what: string): Buffer {
  try {
    return readFileSync(path);
  } catch (err) {
    throw new SkiffError("TLS_FILES_MISSING", `cannot read the ${what} ${path}`, { path }, { cause: err });
  }
}

/**
 * Reads and checks this process's own material: a process with a certificate the CA did not sign,
 * or an expired one, stops at start with a message rather than failing every handshake later.
 * `identity` (when given) is the one the certificate must name.
 */
export function loadTls(files: TlsFiles, identity?: string): TlsMaterial {
  const ca = read(files.ca, "region CA certificate");
  const cert = read(files.cert, "certificate");
  const key = read(files.key, "private key");
  const caCerts = parseCertBundle(ca);
  if (caCerts.length === 0) {
    throw new SkiffError("TLS_MATERIAL_INVALID", `${files.ca} holds no PEM certificate`);
  }
  const v = verifyPeer(cert, caCerts, identity);
  if (!v.ok) {
    throw new SkiffError("TLS_MATERIAL_INVALID", `${files.cert}: ${v.reason} (${v.detail})`, {
      reason: v.reason,
    });
  }
  return { files, ca, caCerts, cert, key, identity: v.identity };
}

function write(path: string, text: string, mode: number): void {
  writeFileSync(path, text, { mode });
}

export function saveIssued(dir: string, identity: string, issued: Issued): TlsFiles {
  mkdirSync(dir, { recursive: true });
  const files = tlsFilesIn(dir, identity);
  write(files.key, issued.keyPem, 0o600);
  write(files.cert, issued.certPem, 0o644);
  return files;
}

function readCa(dir: string): Issued {
  return {
    certPem: readFileSync(join(dir, "ca.pem"), "utf8"),
    keyPem: readFileSync(join(dir, "ca.key"), "utf8"),
  };
}

/** Creates `dir/ca.pem` + `dir/ca.key` unless a CA is there; says whether it made one. */
export async function initCa(dir: string, region: string): Promise<boolean> {
  if (existsSync(join(dir, "ca.pem"))) return false;
  mkdirSync(dir, { recursive: true, mode: 0o700 });
  const ca = await createCa(region);
  write(join(dir, "ca.key"), ca.keyPem, 0o600);
  write(join(dir, "ca.pem"), ca.certPem, 0o644);
  return true;
}

/**
 * Issues `identity` a certificate from the CA in `dir`, unless it holds one from that CA valid for
 * at least `renewDays` more days (so a rerun is a no-op and an expiring one is renewed). `renew`
 * issues a new one regardless (a node added again after its revocation).
 */
export async function ensureIssued(
  dir: string,
  identity: string,
  opts: { days?: number; renewDays?: number; hosts?: readonly string[]; renew?: boolean } = {},
): Promise<{ files: TlsFiles; issued: boolean }> {
  const ca = readCa(dir);
  const files = tlsFilesIn(dir, identity);
  if (!opts.renew && existsSync(files.cert) && existsSync(files.key)) {
    const caCert = parseCert(ca.certPem);
    const soon = new Date(Date.now() + (opts.renewDays ?? 30) * 86_400_000);
    if (caCert && verifyPeer(readFileSync(files.cert), caCert, identity, soon).ok) {
      return { files, issued: false };
    }
  }
  const issued = await issueCert(ca, identity, { days: opts.days ?? 825, hosts: opts.hosts ?? [] });
  return { files: saveIssued(dir, identity, issued), issued: true };
}
