-- AlterEnum: issue 8's migration states (old values mapped: pending → queued, running → precopy,
-- cancelled → rolled-back).
CREATE TYPE "migration_state_new" AS ENUM ('queued', 'preparing', 'precopy', 'stopcopy', 'committing', 'completed', 'rolled-back', 'failed');
ALTER TABLE "migrations" ALTER COLUMN "state" DROP DEFAULT;
ALTER TABLE "migrations" ALTER COLUMN "state" TYPE "migration_state_new" USING (
  CASE "state"::text
    WHEN 'pending' THEN 'queued'
    WHEN 'running' THEN 'precopy'
    WHEN 'cancelled' THEN 'rolled-back'
    ELSE "state"::text
  END
)::"migration_state_new";
ALTER TYPE "migration_state" RENAME TO "migration_state_old";
ALTER TYPE "migration_state_new" RENAME TO "migration_state";
DROP TYPE "migration_state_old";
ALTER TABLE "migrations" ALTER COLUMN "state" SET DEFAULT 'queued';

-- AlterTable
ALTER TABLE "migrations" RENAME COLUMN "epoch" TO "source_epoch";
ALTER TABLE "migrations" RENAME COLUMN "bytes_transferred" TO "bytes_sent";
ALTER TABLE "migrations" DROP COLUMN "rounds",
ADD COLUMN     "rounds" JSONB NOT NULL DEFAULT '[]',
ADD COLUMN     "target_epoch" INTEGER NOT NULL DEFAULT 0,
ADD COLUMN     "vps_state" TEXT NOT NULL DEFAULT 'running',
ADD COLUMN     "max_downtime_ms" INTEGER,
ADD COLUMN     "bandwidth_bytes_per_sec" BIGINT,
ADD COLUMN     "max_rounds" INTEGER,
ADD COLUMN     "timeout_ms" INTEGER,
ADD COLUMN     "total_ms" DOUBLE PRECISION,
ADD COLUMN     "throughput_bytes_per_sec" DOUBLE PRECISION,
ADD COLUMN     "max_throttle_percent" INTEGER,
ADD COLUMN     "error_code" TEXT,
ADD COLUMN     "cancel_requested_at" TIMESTAMPTZ(3),
ALTER COLUMN "downtime_ms" SET DATA TYPE DOUBLE PRECISION;
UPDATE "migrations" SET "target_epoch" = "source_epoch" + 1;
ALTER TABLE "migrations" ALTER COLUMN "target_epoch" DROP DEFAULT;

-- CreateIndex
CREATE INDEX "migrations_finished_at_idx" ON "migrations"("finished_at");
