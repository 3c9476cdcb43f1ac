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

export interface SeedResult {
  projectId: string;
  operatorTokenSeeded: boolean;
}

/**
 * Local-start data: the default project, plans, the default image and (when given) an operator
 * token. Idempotent: existing rows are kept, so a restart never changes what people edited,
 * except the operator token, whose secret follows SKIFF_OPERATOR_TOKEN.
 */
export async function seed(db: Db, opts: { operatorToken?: string }): Promise<SeedResult> {
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
  let operatorTokenSeeded = false;
  if (opts.operatorToken) {
    const hash = hashToken(opts.operatorToken);
    const existing = await db.apiToken.findUnique({ where: { hash } });
    if (!existing) {
      await db.apiToken.create({
        data: {
          name: "seed-operator",
          prefix: tokenPrefix(opts.operatorToken),
          hash,
          scope: "operator",
        },
      });
    }
    operatorTokenSeeded = true;
  }
  return { projectId: project.id, operatorTokenSeeded };
}
