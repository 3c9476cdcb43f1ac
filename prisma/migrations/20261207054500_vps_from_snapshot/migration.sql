-- A VPS may be made from a disk snapshot: its first disk is a copy of the snapshot's file. No
-- foreign key: the snapshot may be deleted once the VPS exists.

-- AlterTable
ALTER TABLE "vps" ADD COLUMN "source_snapshot_id" UUID;
