-- A new VPS has no node and no NIC yet: nothing the network map shows. Bumping the map's version
-- row on its insert made every create take that row's lock while holding its project's row, and
-- placements take them the other way round (the version row, then the project row through a
-- foreign-key check): concurrent creates deadlocked (40P01). The bump stays on deletion and on
-- every update the map shows (placement, a migration's commit, recovery).
DROP TRIGGER "vps_network_map_insert_delete" ON "vps";
CREATE TRIGGER "vps_network_map_delete" AFTER DELETE ON "vps"
  FOR EACH ROW EXECUTE FUNCTION "bump_network_map_version"();
