import { createHash } from "node:crypto";

/** An OpenSSH public key, checked and in its canonical one-line form. */
export interface SshPublicKey {
  type: SshKeyType;
  /** "<type> <base64>[ <comment>]": what goes into authorized_keys. */
  line: string;
  comment: string;
  /** "SHA256:<base64, no padding>", as `ssh-keygen -l` prints it. */
  fingerprint: string;
  /** The key's size in bits (RSA: the modulus; others: fixed by the type). */
  bits: number;
}

/** Why a key was refused (the API's VALIDATION_FAILED details carry it as `problem`). */
export type SshKeyProblem =
  | "empty"
  | "too-long"
  | "not-one-line"
  | "unsupported-type"
  | "bad-base64"
  | "type-mismatch"
  | "malformed-key"
  | "rsa-too-small"
  | "bad-comment";

/** The types the guest's Dropbear accepts for logins. */
export const SSH_KEY_TYPES = [
  "ssh-ed25519",
  "ecdsa-sha2-nistp256",
  "ecdsa-sha2-nistp384",
  "ecdsa-sha2-nistp521",
  "ssh-rsa",
  "sk-ssh-ed25519@openssh.com",
  "sk-ecdsa-sha2-nistp256@openssh.com",
] as const;
export type SshKeyType = (typeof SSH_KEY_TYPES)[number];

/** A whole line, an RSA key of 16384 bits included, is far below this. */
export const MAX_SSH_KEY_LINE = 8192;
const MIN_RSA_BITS = 2048;
const BASE64 = /^[A-Za-z0-9+/]+={0,2}$/;
const CURVES: Record<string, { name: string; point: number; bits: number }> = {
  "ecdsa-sha2-nistp256": { name: "nistp256", point: 65, bits: 256 },
  "ecdsa-sha2-nistp384": { name: "nistp384", point: 97, bits: 384 },
  "ecdsa-sha2-nistp521": { name: "nistp521", point: 133, bits: 521 },
  "sk-ecdsa-sha2-nistp256@openssh.com": { name: "nistp256", point: 65, bits: 256 },
};

export type ParsedSshKey = { ok: true; key: SshPublicKey } | { ok: false; problem: SshKeyProblem };

/**
 * Reads one public key as ssh-keygen writes it ("type base64 [comment]", RFC 4253 §6.6 and
 * RFC 8709 for the blob). The blob is decoded and its fields checked against the type; options
 * before the type (authorized_keys' `command="..."`) are refused: the guest's file is ours to write.
 */
export function parseSshPublicKey(text: string): ParsedSshKey {
  const trimmed = text.trim();
  if (trimmed === "") return fail("empty");
  if (trimmed.length > MAX_SSH_KEY_LINE) return fail("too-long");
  if (/[\r\n]/.test(trimmed)) return fail("not-one-line");
  const [type, data, ...rest] = trimmed.split(/[ \t]+/);
  if (!isKeyType(type)) return fail("unsupported-type");
  if (data === undefined || data.length % 4 !== 0 || !BASE64.test(data)) return fail("bad-base64");
  const comment = rest.join(" ");
  // Printable ASCII and beyond; no control characters (they would end up in a file and a log).
  if (hasControl(comment) || comment.length > 255) return fail("bad-comment");
  const blob = Buffer.from(data, "base64");
  const fields = readStrings(blob);
  if (!fields || fields.length === 0) return fail("malformed-key");
  if (fields[0].toString("latin1") !== type) return fail("type-mismatch");
  const bits = checkFields(type, fields.slice(1));
  if (bits === undefined) return fail("malformed-key");
  if (type === "ssh-rsa" && bits < MIN_RSA_BITS) return fail("rsa-too-small");
  const fingerprint = `SHA256:${createHash("sha256").update(blob).digest("base64").replace(/=+$/, "")}`;
  return {
    ok: true,
    key: {
      type,
      line: comment ? `${type} ${data} ${comment}` : `${type} ${data}`,
      comment,
      fingerprint,
      bits,
    },
  };
}

function hasControl(text: string): boolean {
  for (let i = 0; i < text.length; i++) {
    const c = text.charCodeAt(i);
    if (c < 0x20 || c === 0x7f) return true;
  }
  return false;
}

function isKeyType(type: string | undefined): type is SshKeyType {
  return (SSH_KEY_TYPES as readonly string[]).includes(type ?? "");
}

/** The key's bits when the fields after the type are what the type needs; undefined otherwise. */
function checkFields(type: SshKeyType, f: Buffer[]): number | undefined {
  const text = (i: number) => f[i]?.toString("latin1");
  switch (type) {
    case "ssh-ed25519":
      return f.length === 1 && f[0].length === 32 ? 256 : undefined;
    case "sk-ssh-ed25519@openssh.com":
      return f.length === 2 && f[0].length === 32 && f[1].length > 0 ? 256 : undefined;
    case "ssh-rsa": {
      // e and n are positive mpints (RFC 4251 §5): no leading 1 bit, n at least a byte.
      if (f.length !== 2 || f[0].length === 0 || f[1].length === 0) return undefined;
      if ((f[0][0] & 0x80) !== 0 || (f[1][0] & 0x80) !== 0) return undefined;
      const n = f[1][0] === 0 ? f[1].subarray(1) : f[1];
      if (n.length === 0 || n[0] === 0) return undefined;
      return (n.length - 1) * 8 + (32 - Math.clz32(n[0]));
    }
    default: {
      const curve = CURVES[type];
      const sk = type.startsWith("sk-");
      if (!curve || f.length !== (sk ? 3 : 2) || text(0) !== curve.name) return undefined;
      if (f[1].length !== curve.point || f[1][0] !== 0x04) return undefined;
      return curve.bits;
    }
  }
}

/** The blob as a list of SSH strings (uint32 length, bytes); undefined if it does not split exactly. */
function readStrings(blob: Buffer): Buffer[] | undefined {
  const out: Buffer[] = [];
  let at = 0;
  while (at < blob.length) {
    if (at + 4 > blob.length || out.length >= 8) return undefined;
    const length = blob.readUInt32BE(at);
    at += 4;
    if (length > blob.length - at) return undefined;
    out.push(blob.subarray(at, at + length));
    at += length;
  }
  return out;
}

function fail(problem: SshKeyProblem): ParsedSshKey {
  return { ok: false, problem };
}
