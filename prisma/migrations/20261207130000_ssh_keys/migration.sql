-- SSH keys of a project, and the public keys each VPS was created with (copied, not referenced:
-- deleting a key leaves the VPSes that have it as they are).

-- AlterTable
ALTER TABLE "vps" ADD COLUMN "authorized_keys" TEXT NOT NULL DEFAULT '';

-- CreateTable
CREATE TABLE "ssh_keys" (
    "id" UUID NOT NULL,
    "project_id" UUID NOT NULL,
    "name" TEXT NOT NULL,
    "public_key" TEXT NOT NULL,
    "fingerprint" TEXT NOT NULL,
    "created_at" TIMESTAMPTZ(3) NOT NULL DEFAULT CURRENT_TIMESTAMP,

    CONSTRAINT "ssh_keys_pkey" PRIMARY KEY ("id")
);

-- CreateIndex
CREATE UNIQUE INDEX "ssh_keys_project_id_name_key" ON "ssh_keys"("project_id", "name");

-- CreateIndex
CREATE UNIQUE INDEX "ssh_keys_project_id_fingerprint_key" ON "ssh_keys"("project_id", "fingerprint");

-- AddForeignKey
ALTER TABLE "ssh_keys" ADD CONSTRAINT "ssh_keys_project_id_fkey" FOREIGN KEY ("project_id") REFERENCES "projects"("id") ON DELETE CASCADE ON UPDATE CASCADE;
