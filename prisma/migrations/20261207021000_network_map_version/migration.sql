-- The network map's version grows in the same transaction as any change the map shows: a VPS's
-- NIC or node (placement, deletion, a migration's commit, recovery), a node's name or overlay
-- endpoint, a network. Triggers rather than calls in each code path, so no path can forget it.
-- Bumping on a change the map ignores only costs an extra push.

CREATE FUNCTION "bump_network_map_version"() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  UPDATE "network_map_state" SET "version" = "version" + 1 WHERE "id" = 1;
  RETURN NULL;
END
$$;

CREATE TRIGGER "vps_network_map_insert_delete" AFTER INSERT OR DELETE ON "vps"
  FOR EACH ROW EXECUTE FUNCTION "bump_network_map_version"();
CREATE TRIGGER "vps_network_map_update" AFTER UPDATE ON "vps" FOR EACH ROW
  WHEN (OLD."node_id" IS DISTINCT FROM NEW."node_id" OR OLD."network_id" IS DISTINCT FROM NEW."network_id"
    OR OLD."ipv4" IS DISTINCT FROM NEW."ipv4" OR OLD."mac" IS DISTINCT FROM NEW."mac"
    OR OLD."name" IS DISTINCT FROM NEW."name")
  EXECUTE FUNCTION "bump_network_map_version"();

CREATE TRIGGER "nodes_network_map_insert_delete" AFTER INSERT OR DELETE ON "nodes"
  FOR EACH ROW EXECUTE FUNCTION "bump_network_map_version"();
CREATE TRIGGER "nodes_network_map_update" AFTER UPDATE ON "nodes" FOR EACH ROW
  WHEN (OLD."name" IS DISTINCT FROM NEW."name" OR OLD."overlay_host" IS DISTINCT FROM NEW."overlay_host"
    OR OLD."overlay_port" IS DISTINCT FROM NEW."overlay_port")
  EXECUTE FUNCTION "bump_network_map_version"();

CREATE TRIGGER "networks_network_map" AFTER INSERT OR UPDATE OR DELETE ON "networks"
  FOR EACH ROW EXECUTE FUNCTION "bump_network_map_version"();
