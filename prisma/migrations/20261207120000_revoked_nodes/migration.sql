-- Revoked nodes: certificates naming one, issued up to its revocation, are refused. Keyed by
-- name and time rather than by serial: every copy and renewal of a node's certificate is covered
-- without the region keeping a record of which it ever issued.
CREATE TABLE "revoked_nodes" (
    "name" TEXT NOT NULL,
    "revoked_at" TIMESTAMPTZ(3) NOT NULL,
    "reason" TEXT NOT NULL DEFAULT '',

    CONSTRAINT "revoked_nodes_pkey" PRIMARY KEY ("name")
);
