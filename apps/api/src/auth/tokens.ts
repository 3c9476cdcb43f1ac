import { createHash, randomBytes } from "node:crypto";

/** Tokens are random strings shown once; the database keeps only their SHA-256. */
export function hashToken(token: string): string {
  return createHash("sha256").update(token).digest("hex");
}

/** The first characters, stored in clear so listings can tell tokens apart. */
export function tokenPrefix(token: string): string {
  return token.slice(0, 12);
}

export function newToken(scope: "tenant" | "operator"): string {
  return `skiff_${scope === "operator" ? "op" : "tn"}_${randomBytes(24).toString("base64url")}`;
}
