/**
 * Making a region CA and the certificates it signs: ECDSA P-256 keys (fast handshakes, small
 * certificates), SHA-256 signatures, PEM out. The CA is self-signed and may sign only leaves.
 */
import { webcrypto } from "node:crypto";
import type * as X509 from "@peculiar/x509";

type CryptoKey = webcrypto.CryptoKey;
type CryptoKeyPair = webcrypto.CryptoKeyPair;

const crypto = webcrypto;

let loaded: Promise<typeof X509> | undefined;
/**
 * The certificate library, loaded on first use: it costs a quarter of a second to import, and
 * every process that only verifies certificates (each VMM, the agent, the API) never needs it.
 */
function x509lib(): Promise<typeof X509> {
  loaded ??= (async () => {
    await import("reflect-metadata");
    const x509 = await import("@peculiar/x509");
    x509.cryptoProvider.set(crypto as unknown as Parameters<typeof x509.cryptoProvider.set>[0]);
    return x509;
  })();
  return loaded;
}

const ALG = { name: "ECDSA", namedCurve: "P-256", hash: "SHA-256" } as const;
const DAY_MS = 86_400_000;

/** A certificate and its private key, both PEM. */
export interface Issued {
  readonly certPem: string;
  readonly keyPem: string;
}

export interface Validity {
  /** Default: now. */
  readonly notBefore?: Date;
  readonly days: number;
}

async function keyPair(): Promise<CryptoKeyPair> {
  return crypto.subtle.generateKey(ALG, true, ["sign", "verify"]);
}

async function keyPem(x509: typeof X509, key: CryptoKey): Promise<string> {
  const der = await crypto.subtle.exportKey("pkcs8", key);
  return x509.PemConverter.encode(der, "PRIVATE KEY");
}

function window(v: Validity): { notBefore: Date; notAfter: Date } {
  const notBefore = v.notBefore ?? new Date();
  return { notBefore, notAfter: new Date(notBefore.getTime() + v.days * DAY_MS) };
}

/** A new self-signed region CA named `Skiff region CA <region>`. */
export async function createCa(region: string, validity: Validity = { days: 3650 }): Promise<Issued> {
  const x509 = await x509lib();
  const keys = await keyPair();
  const cert = await x509.X509CertificateGenerator.createSelfSigned({
    name: `CN=Skiff region CA ${region}`,
    keys,
    signingAlgorithm: ALG,
    ...window(validity),
    extensions: [
      new x509.BasicConstraintsExtension(true, 0, true),
      new x509.KeyUsagesExtension(x509.KeyUsageFlags.keyCertSign | x509.KeyUsageFlags.cRLSign, true),
      await x509.SubjectKeyIdentifierExtension.create(keys.publicKey),
    ],
  });
  return { certPem: cert.toString("pem"), keyPem: await keyPem(x509, keys.privateKey) };
}

async function importKey(x509: typeof X509, pem: string): Promise<CryptoKey> {
  return crypto.subtle.importKey("pkcs8", x509.PemConverter.decodeFirst(pem), ALG, false, ["sign"]);
}

/**
 * A leaf certificate for `identity` (see identity.ts), usable as TLS server and client alike: the
 * same agent serves gRPC and dials other agents. `hosts` go into the SAN for tools that check them.
 */
export async function issueCert(
  ca: Issued,
  identity: string,
  opts: Validity & { hosts?: readonly string[] } = { days: 825 },
): Promise<Issued> {
  const x509 = await x509lib();
  const caCert = new x509.X509Certificate(ca.certPem);
  const keys = await keyPair();
  const hosts = opts.hosts ?? [];
  const isIp = (h: string) => /^[\d.]+$|:/.test(h);
  const cert = await x509.X509CertificateGenerator.create({
    subject: `CN=${identity}`,
    issuer: caCert.subject,
    publicKey: keys.publicKey,
    signingKey: await importKey(x509, ca.keyPem),
    signingAlgorithm: ALG,
    ...window(opts),
    extensions: [
      new x509.BasicConstraintsExtension(false, undefined, true),
      new x509.KeyUsagesExtension(x509.KeyUsageFlags.digitalSignature, true),
      new x509.ExtendedKeyUsageExtension(
        [x509.ExtendedKeyUsage.serverAuth, x509.ExtendedKeyUsage.clientAuth],
        false,
      ),
      await x509.AuthorityKeyIdentifierExtension.create(caCert.publicKey),
      ...(hosts.length > 0
        ? [
            new x509.SubjectAlternativeNameExtension(
              hosts.map((h) => ({ type: isIp(h) ? ("ip" as const) : ("dns" as const), value: h })),
            ),
          ]
        : []),
    ],
  });
  return { certPem: cert.toString("pem"), keyPem: await keyPem(x509, keys.privateKey) };
}
