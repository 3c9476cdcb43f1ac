-- VPS lists in their order (created_at, id): a page is an index range, not a sort of every row,
-- a project's for tenants and the region's for operators.

-- CreateIndex
CREATE INDEX "vps_project_id_created_at_id_idx" ON "vps"("project_id", "created_at", "id");

-- CreateIndex
CREATE INDEX "vps_created_at_id_idx" ON "vps"("created_at", "id");
