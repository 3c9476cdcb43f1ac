import { spawnSync } from "node:child_process";

/** Whether the reference devicetree compiler (dtc, package device-tree-compiler) is installed. */
export const hasDtc = spawnSync("dtc", ["--version"]).status === 0;

/** Decompiles a blob with dtc: the .dts text and dtc's warnings (stderr). Throws if dtc rejects it. */
export function dtcDecompile(blob: Uint8Array): { dts: string; warnings: string } {
  const r = spawnSync("dtc", ["-I", "dtb", "-O", "dts", "-o", "-", "-"], { input: blob });
  if (r.status !== 0) throw new Error(`dtc failed (${r.status}): ${r.stderr.toString()}`);
  return { dts: r.stdout.toString(), warnings: r.stderr.toString() };
}
