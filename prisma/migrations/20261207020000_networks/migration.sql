-- Private networks: one per project (created at its first placement), a NIC per VPS, each node's
-- overlay endpoint and the map version it holds. VPSes created before this get their NIC when they
-- are next placed (no backfill here: allocation needs the region's pool, which is configuration).

-- CreateTable
CREATE TABLE "networks" (
    "id" UUID NOT NULL,
    "project_id" UUID NOT NULL,
    "name" TEXT NOT NULL DEFAULT 'default',
    "vni" INTEGER NOT NULL,
    "cidr" TEXT NOT NULL,
    "gateway_ipv4" TEXT NOT NULL,
    "gateway_mac" TEXT NOT NULL,
    "created_at" TIMESTAMPTZ(3) NOT NULL DEFAULT CURRENT_TIMESTAMP,

    CONSTRAINT "networks_pkey" PRIMARY KEY ("id")
);

-- CreateTable
CREATE TABLE "network_map_state" (
    "id" INTEGER NOT NULL DEFAULT 1,
    "version" BIGINT NOT NULL DEFAULT 0,

    CONSTRAINT "network_map_state_pkey" PRIMARY KEY ("id")
);
INSERT INTO "network_map_state" ("id", "version") VALUES (1, 0);

-- AlterTable
ALTER TABLE "nodes" ADD COLUMN     "overlay_host" TEXT,
ADD COLUMN     "overlay_port" INTEGER,
ADD COLUMN     "network_map_version" BIGINT NOT NULL DEFAULT 0;

-- AlterTable
ALTER TABLE "vps" ADD COLUMN     "network_id" UUID,
ADD COLUMN     "ipv4" TEXT,
ADD COLUMN     "mac" TEXT;

-- CreateIndex
CREATE UNIQUE INDEX "networks_vni_key" ON "networks"("vni");

-- CreateIndex
CREATE UNIQUE INDEX "networks_cidr_key" ON "networks"("cidr");

-- CreateIndex
CREATE UNIQUE INDEX "networks_gateway_mac_key" ON "networks"("gateway_mac");

-- CreateIndex
CREATE UNIQUE INDEX "networks_project_id_name_key" ON "networks"("project_id", "name");

-- CreateIndex
CREATE UNIQUE INDEX "vps_mac_key" ON "vps"("mac");

-- CreateIndex
CREATE UNIQUE INDEX "vps_network_id_ipv4_key" ON "vps"("network_id", "ipv4");

-- AddForeignKey
ALTER TABLE "networks" ADD CONSTRAINT "networks_project_id_fkey" FOREIGN KEY ("project_id") REFERENCES "projects"("id") ON DELETE CASCADE ON UPDATE CASCADE;

-- AddForeignKey
ALTER TABLE "vps" ADD CONSTRAINT "vps_network_id_fkey" FOREIGN KEY ("network_id") REFERENCES "networks"("id") ON DELETE SET NULL ON UPDATE CASCADE;
