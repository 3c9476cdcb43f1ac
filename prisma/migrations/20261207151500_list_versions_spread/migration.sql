-- The list counters spread over sixteen rows: a committing transaction bumps the row of its
-- connection (backend pid modulo 16), so concurrent commits (heartbeats of many nodes) rarely wait
-- for one another; on one row they queued behind each commit's flush. A list's counter is the sum
-- of its column, which grows with every bump as one row's did.
INSERT INTO "list_versions" ("id", "vps", "nodes") SELECT g, 0, 0 FROM generate_series(2, 16) g;

CREATE OR REPLACE FUNCTION "bump_vps_list_version"() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  IF current_setting('skiff.vps_list_bumped', true) IS DISTINCT FROM 'on' THEN
    PERFORM set_config('skiff.vps_list_bumped', 'on', true);
    UPDATE "list_versions" SET "vps" = "vps" + 1 WHERE "id" = 1 + pg_backend_pid() % 16;
  END IF;
  RETURN NULL;
END
$$;

CREATE OR REPLACE FUNCTION "bump_node_list_version"() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  IF current_setting('skiff.node_list_bumped', true) IS DISTINCT FROM 'on' THEN
    PERFORM set_config('skiff.node_list_bumped', 'on', true);
    UPDATE "list_versions" SET "nodes" = "nodes" + 1 WHERE "id" = 1 + pg_backend_pid() % 16;
  END IF;
  RETURN NULL;
END
$$;
