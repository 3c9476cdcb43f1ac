-- A stopped or suspended VPS moves cold (its disk and suspend snapshot copied between the agents,
-- or only the disk's ownership on shared storage), through the same migration records and queue
-- as live ones. Every migration so far was live.

-- AlterTable
ALTER TABLE "migrations" ADD COLUMN "kind" TEXT NOT NULL DEFAULT 'live';
