/**
 * The balancer's settings row (one per cluster) and its validation. The row is created with the
 * defaults on first read, so a fresh database needs no seed.
 */
import { z } from "zod";
import type { Db, Prisma, BalancerSettings as SettingsRow } from "../../db/client.js";
import type { BalancerSettings } from "./model.js";

export const SETTINGS_ID = "cluster";

/** What PUT /v1/balancer accepts: any subset of the settings. */
export const SettingsPatch = z
  .object({
    enabled: z.boolean(),
    mode: z.enum(["spread", "pack"]),
    threshold: z.number().min(0).max(1),
    minImprovement: z.number().min(0).max(1),
    hysteresis: z.number().min(0).max(1),
    cooldownSeconds: z
      .number()
      .int()
      .min(0)
      .max(7 * 86_400),
    maxMovesPerRound: z.number().int().min(0).max(1000),
    maxConcurrent: z.number().int().min(1).max(1000),
    maxConcurrentPerNode: z.number().int().min(1).max(100),
    packMaxUtilization: z.number().gt(0).max(1),
  })
  .partial()
  .strict();
export type SettingsPatch = z.infer<typeof SettingsPatch>;

export interface StoredSettings {
  readonly settings: BalancerSettings;
  /** Hysteresis state from the last round. */
  readonly balancing: boolean;
  readonly lastRunAt: Date | null;
  readonly lastScore: number | null;
  readonly updatedAt: Date;
}

export function fromRow(r: SettingsRow): StoredSettings {
  return {
    settings: {
      enabled: r.enabled,
      mode: r.mode,
      threshold: r.threshold,
      minImprovement: r.minImprovement,
      hysteresis: r.hysteresis,
      cooldownMs: r.cooldownSeconds * 1000,
      maxMovesPerRound: r.maxMovesPerRound,
      maxConcurrent: r.maxConcurrent,
      maxConcurrentPerNode: r.maxConcurrentPerNode,
      packMaxUtilization: r.packMaxUtilization,
    },
    balancing: r.balancing,
    lastRunAt: r.lastRunAt,
    lastScore: r.lastScore,
    updatedAt: r.updatedAt,
  };
}

/** The settings as the API shows them (seconds, like the PUT body). */
export function settingsView(s: BalancerSettings): Required<SettingsPatch> {
  const { cooldownMs, ...rest } = s;
  return { ...rest, cooldownSeconds: Math.round(cooldownMs / 1000) };
}

/** The settings with a patch applied (for a dry run with other settings). */
export function withPatch(s: BalancerSettings, patch: SettingsPatch): BalancerSettings {
  const { cooldownSeconds, ...rest } = patch;
  return {
    ...s,
    ...rest,
    ...(cooldownSeconds !== undefined ? { cooldownMs: cooldownSeconds * 1000 } : {}),
  };
}

type Client = Pick<Db, "balancerSettings">;

export async function loadSettings(db: Client): Promise<StoredSettings> {
  const row = await db.balancerSettings.upsert({
    where: { id: SETTINGS_ID },
    create: { id: SETTINGS_ID },
    update: {},
  });
  return fromRow(row);
}

export async function saveSettings(db: Client, patch: SettingsPatch): Promise<StoredSettings> {
  const data: Prisma.BalancerSettingsUpdateInput = { ...patch };
  // A mode change starts from scratch: the previous mode's hysteresis says nothing about this one.
  if (patch.mode !== undefined || patch.enabled === false) data.balancing = false;
  const row = await db.balancerSettings.upsert({
    where: { id: SETTINGS_ID },
    create: { id: SETTINGS_ID, ...patch },
    update: data,
  });
  return fromRow(row);
}

/** Records what a round concluded (hysteresis state and score). */
export async function saveRoundState(
  db: Client,
  state: { balancing: boolean; score: number; at: Date },
): Promise<void> {
  await db.balancerSettings.update({
    where: { id: SETTINGS_ID },
    data: { balancing: state.balancing, lastScore: state.score, lastRunAt: state.at },
  });
}
