-- Where VM disks live. Until now every agent kept disks in its own data dir, so existing nodes are
-- local and existing VPS disks are local to their node: the defaults are the truth.

-- CreateEnum
CREATE TYPE "storage_backend" AS ENUM ('local', 'shared');

-- AlterTable
ALTER TABLE "nodes" ADD COLUMN     "storage_backend" "storage_backend" NOT NULL DEFAULT 'local',
ADD COLUMN     "storage_id" TEXT;

-- AlterTable
ALTER TABLE "vps" ADD COLUMN     "disk_storage_id" TEXT;
