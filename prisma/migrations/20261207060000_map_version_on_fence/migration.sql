-- The map leaves fenced nodes out (the overlay must not accept their datagrams), but fencing and
-- readmitting a node did not bump the map's version: the other nodes kept a fenced node as a
-- sender, and once it was readmitted they never learnt it again, so VPSes on a returned node ran
-- unreachable from the rest of their network. The node trigger now also fires when a node enters
-- or leaves the fenced state.
DROP TRIGGER "nodes_network_map_update" ON "nodes";
CREATE TRIGGER "nodes_network_map_update" AFTER UPDATE ON "nodes" FOR EACH ROW
  WHEN (OLD."name" IS DISTINCT FROM NEW."name" OR OLD."overlay_host" IS DISTINCT FROM NEW."overlay_host"
    OR OLD."overlay_port" IS DISTINCT FROM NEW."overlay_port"
    OR (OLD."status" = 'fenced') IS DISTINCT FROM (NEW."status" = 'fenced'))
  EXECUTE FUNCTION "bump_network_map_version"();
