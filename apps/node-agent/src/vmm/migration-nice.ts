/**
 * SKIFF_MIGRATION_NICE, part of the agent's config (config.ts) and read by each VMM on its own: a
 * VMM loads this, not the agent's whole config with its TLS settings.
 */
import { int } from "@skiff/common";

export const migrationNiceSpec = int(
  "SKIFF_MIGRATION_NICE",
  "nice level the VMM threads on a live migration's path raise themselves to while it runs (below 0 needs CAP_SYS_NICE; without it they keep SKIFF_VMM_NICE)",
  -5,
);
