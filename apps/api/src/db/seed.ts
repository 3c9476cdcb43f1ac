import { SkiffError } from "@skiff/common";
import { hashToken, tokenPrefix } from "../auth/tokens.js";
import type { Db } from "./client.js";

const MiB = 2 ** 20;

/** Sizes for the RV32 guests hv-core runs: small machines, cpuShare in hundredths of a host CPU. */
export const SEED_PLANS = [
  { name: "nano", vcpus: 1, memoryBytes: 32 * MiB, diskBytes: 64 * MiB, cpuShare: 25 },
  { name: "small", vcpus: 1, memoryBytes: 64 * MiB, diskBytes: 128 * MiB, cpuShare: 50 },
  { name: "medium", vcpus: 1, memoryBytes: 128 * MiB, diskBytes: 256 * MiB, cpuShare: 100 },
  { name: "large", vcpus: 2, memoryBytes: 256 * MiB, diskBytes: 512 * MiB, cpuShare: 200 },
] as const;

/** The Linux guest built by guests/linux/build.sh, relative to SKIFF_REPO_ROOT on every node. */
export const DEFAULT_IMAGE = {
  name: "linux",
  arch: "riscv32",
  kernelPath: "guests/linux/Image",
  initrdPath: "guests/linux/initramfs.cpio",
  rootfsPath: "guests/linux/rootfs.ext2",
  kernelArgs: "console=ttyS0 earlycon=sbi",
  isDefault: true,
} as const;

export const DEFAULT_PROJECT = "default";

/**
 * What to do with the operator token handed to the seed:
 * - `ensure` (local start): it works afterwards — created when its hash is missing, so the local
 *   cluster's token follows SKIFF_OPERATOR_TOKEN;
 * - `first` (a region's bootstrap): it becomes the first operator token, created only while the
 *   region has no usable operator token. Once operators made their own and revoked it, re-running
 *   the migrate job neither brings it back nor adds another.
 */
export type OperatorTokenPolicy = "ensure" | "first";

export interface SeedOptions {
  readonly operatorToken?: string;
  readonly operatorTokenPolicy?: OperatorTokenPolicy;
}

export interface SeedResult {
  projectId: string;
  /** A token was given and works (it exists and is not revoked). */
  operatorTokenSeeded: boolean;
  /** This run created it. */
  operatorTokenCreated: boolean;
  /** Why a given token was not created (policy `first`). */
  operatorTokenNote?: string;
}

/** A bootstrap secret guards a whole region: refuse what looks like a placeholder. */
export const MIN_BOOTSTRAP_TOKEN_LENGTH = 24;

/**
 * Catalog data every region needs — the default project, the plans, the default image — and the
 * operator token (see `OperatorTokenPolicy`). Idempotent: existing rows are kept, so a re-run never
 * changes what operators edited.
 */
export async function seed(db: Db, opts: SeedOptions): Promise<SeedResult> {
  const policy = opts.operatorTokenPolicy ?? "ensure";
  const token = opts.operatorToken || undefined;
  if (token && policy === "first" && token.length < MIN_BOOTSTRAP_TOKEN_LENGTH) {
    throw new SkiffError(
      "WEAK_OPERATOR_TOKEN",
      `SKIFF_OPERATOR_TOKEN must be at least ${MIN_BOOTSTRAP_TOKEN_LENGTH} characters (e.g. openssl rand -hex 24)`,
    );
  }
  const project = await db.project.upsert({
    where: { name: DEFAULT_PROJECT },
    update: {},
    create: { name: DEFAULT_PROJECT },
  });
  for (const p of SEED_PLANS) {
    await db.plan.upsert({
      where: { name: p.name },
      update: {},
      create: { ...p, memoryBytes: BigInt(p.memoryBytes), diskBytes: BigInt(p.diskBytes) },
    });
  }
  const hasDefault = await db.image.findFirst({ where: { isDefault: true } });
  await db.image.upsert({
    where: { name: DEFAULT_IMAGE.name },
    update: {},
    create: { ...DEFAULT_IMAGE, isDefault: hasDefault === null },
  });
  const result: SeedResult = {
    projectId: project.id,
    operatorTokenSeeded: false,
    operatorTokenCreated: false,
  };
  if (!token) return result;
  const hash = hashToken(token);
  const existing = await db.apiToken.findUnique({ where: { hash } });
  if (existing) {
    result.operatorTokenSeeded = existing.revokedAt === null;
    if (existing.revokedAt) result.operatorTokenNote = "this operator token was revoked; it stays revoked";
    return result;
  }
  if (policy === "first") {
    const now = new Date();
    const usable = await db.apiToken.count({
      where: { scope: "operator", revokedAt: null, OR: [{ expiresAt: null }, { expiresAt: { gt: now } }] },
    });
    if (usable > 0) {
      result.operatorTokenNote = `the region has ${usable} operator token(s) already; SKIFF_OPERATOR_TOKEN is not added`;
      return result;
    }
  }
  await db.apiToken.create({
    data: {
      name: policy === "first" ? "bootstrap-operator" : "seed-operator",
      prefix: tokenPrefix(token),
      hash,
      scope: "operator",
    },
  });
  result.operatorTokenSeeded = true;
  result.operatorTokenCreated = true;
  return result;
}
