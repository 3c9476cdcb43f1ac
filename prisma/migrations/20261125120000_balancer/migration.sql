-- CreateEnum
CREATE TYPE "balancer_mode" AS ENUM ('spread', 'pack');

-- CreateTable
CREATE TABLE "balancer_settings" (
    "id" TEXT NOT NULL DEFAULT 'cluster',
    "enabled" BOOLEAN NOT NULL DEFAULT false,
    "mode" "balancer_mode" NOT NULL DEFAULT 'spread',
    "threshold" DOUBLE PRECISION NOT NULL DEFAULT 0.02,
    "min_improvement" DOUBLE PRECISION NOT NULL DEFAULT 0.005,
    "hysteresis" DOUBLE PRECISION NOT NULL DEFAULT 0.5,
    "cooldown_seconds" INTEGER NOT NULL DEFAULT 600,
    "max_moves_per_round" INTEGER NOT NULL DEFAULT 4,
    "max_concurrent" INTEGER NOT NULL DEFAULT 4,
    "max_concurrent_per_node" INTEGER NOT NULL DEFAULT 2,
    "pack_max_utilization" DOUBLE PRECISION NOT NULL DEFAULT 0.85,
    "balancing" BOOLEAN NOT NULL DEFAULT false,
    "last_run_at" TIMESTAMPTZ(3),
    "last_score" DOUBLE PRECISION,
    "updated_at" TIMESTAMPTZ(3) NOT NULL,

    CONSTRAINT "balancer_settings_pkey" PRIMARY KEY ("id")
);
