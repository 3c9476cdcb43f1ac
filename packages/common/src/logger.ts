import { createRequire } from "node:module";
import type { Logger, pino as Pino } from "pino";

export type { Logger };

// pino is loaded with the first logger, not with this package: the hv CLI and a VMM's vCPU thread
// import @skiff/common for its errors only, and pino was ~40% of their start-up's module loading.
const requireModule = createRequire(import.meta.url);

/** Structured JSON logs (pino). LOG_LEVEL sets the level; tests default to silent. */
export function createLogger(
  name: string,
  level = process.env.LOG_LEVEL ?? (process.env.VITEST ? "silent" : "info"),
): Logger {
  const { pino } = requireModule("pino") as { pino: typeof Pino };
  return pino({ name, level });
}
