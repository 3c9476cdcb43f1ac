/**
 * The TLS settings every region process reads (API, node agent): the same variables everywhere, so
 * an operator learns them once. Spread into each process's config spec.
 */
import { isAbsolute, resolve } from "node:path";
import { type Logger, oneOf, str } from "@skiff/common";
import { type TlsFiles, tlsFilesIn } from "./files.js";

export const tlsConfigSpec = {
  tls: oneOf(["on", "off"] as const)(
    "SKIFF_TLS",
    "mutual TLS on every gRPC channel (API to agents, agent to agent, migration streams); off is plaintext, for debugging only, and is logged as a warning at start",
    "on",
  ),
  tlsDir: str(
    "SKIFF_TLS_DIR",
    "directory holding ca.pem and this process's <identity>.pem/.key (identity: api, or node-<name> for an agent), as `skiff-pki` writes them",
    ".skiff/pki",
  ),
  tlsCa: str("SKIFF_TLS_CA", "region CA certificate (PEM)", "", "(SKIFF_TLS_DIR/ca.pem)"),
  tlsCert: str("SKIFF_TLS_CERT", "this process's certificate (PEM)", "", "(SKIFF_TLS_DIR/<identity>.pem)"),
  tlsKey: str("SKIFF_TLS_KEY", "this process's private key (PEM)", "", "(SKIFF_TLS_DIR/<identity>.key)"),
};

export type TlsSetting = { readonly mode: "off" } | { readonly mode: "on"; readonly files: TlsFiles };

interface TlsConfigValues {
  readonly tls: "on" | "off";
  readonly tlsDir: string;
  readonly tlsCa: string;
  readonly tlsCert: string;
  readonly tlsKey: string;
}

/** Resolves the parsed variables for `identity`; relative paths are taken from `base`. */
export function tlsSetting(c: TlsConfigValues, identity: string, base: string): TlsSetting {
  if (c.tls === "off") return { mode: "off" };
  const abs = (p: string) => (isAbsolute(p) ? p : resolve(base, p));
  const inDir = tlsFilesIn(abs(c.tlsDir), identity);
  return {
    mode: "on",
    files: {
      ca: c.tlsCa === "" ? inDir.ca : abs(c.tlsCa),
      cert: c.tlsCert === "" ? inDir.cert : abs(c.tlsCert),
      key: c.tlsKey === "" ? inDir.key : abs(c.tlsKey),
    },
  };
}

/** Plaintext is allowed, never quiet. */
export function warnIfPlaintext(log: Logger, setting: TlsSetting): void {
  if (setting.mode === "off") {
    log.warn(
      { code: "TLS_OFF" },
      "SKIFF_TLS=off: gRPC channels and agent registration are PLAINTEXT and unauthenticated (guest memory crosses the network in the clear, any holder of the agent token can register as any node); use only for debugging",
    );
  }
}
