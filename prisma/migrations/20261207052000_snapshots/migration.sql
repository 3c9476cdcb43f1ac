-- User snapshots of VPS disks, counted against a project quota of their own.

-- AlterTable
ALTER TABLE "projects" ADD COLUMN "max_snapshots" INTEGER NOT NULL DEFAULT 10;

-- CreateTable
CREATE TABLE "snapshots" (
    "id" UUID NOT NULL,
    "project_id" UUID NOT NULL,
    "vps_id" UUID NOT NULL,
    "name" TEXT NOT NULL,
    "state" TEXT NOT NULL DEFAULT 'creating',
    "node_id" UUID,
    "storage_id" TEXT,
    "path" TEXT,
    "size_bytes" BIGINT NOT NULL DEFAULT 0,
    "paused_ms" DOUBLE PRECISION,
    "error" TEXT,
    "created_at" TIMESTAMPTZ(3) NOT NULL DEFAULT CURRENT_TIMESTAMP,

    CONSTRAINT "snapshots_pkey" PRIMARY KEY ("id")
);

-- CreateIndex
CREATE UNIQUE INDEX "snapshots_project_id_name_key" ON "snapshots"("project_id", "name");

-- CreateIndex
CREATE INDEX "snapshots_vps_id_idx" ON "snapshots"("vps_id");

-- AddForeignKey
ALTER TABLE "snapshots" ADD CONSTRAINT "snapshots_project_id_fkey" FOREIGN KEY ("project_id") REFERENCES "projects"("id") ON DELETE CASCADE ON UPDATE CASCADE;

-- AddForeignKey
ALTER TABLE "snapshots" ADD CONSTRAINT "snapshots_vps_id_fkey" FOREIGN KEY ("vps_id") REFERENCES "vps"("id") ON DELETE CASCADE ON UPDATE CASCADE;
