-- CreateEnum
CREATE TYPE "boot_mode" AS ENUM ('linux', 'firmware');

-- AlterTable
ALTER TABLE "images" ADD COLUMN     "boot_mode" "boot_mode" NOT NULL DEFAULT 'linux';
