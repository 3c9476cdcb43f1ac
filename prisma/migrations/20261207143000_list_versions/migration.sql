-- Change counters for the VPS and node lists: an API replica keeps a list's serialized pages and
-- serves them while the counter they were read under is still current (a read of this row, shared
-- by the requests that wait meanwhile, instead of the page's query). `vps` grows with any change to
-- a VPS; `nodes` with any change to a node or to what a migration reserves on its target.
--
-- The triggers are deferred to the commit and bump a counter once per transaction: the row is
-- locked only while a transaction commits, when it waits on nothing else, so writers queue
-- briefly on it and never deadlock through it. TRUNCATE (tests) bumps at once.

-- CreateTable
CREATE TABLE "list_versions" (
    "id" INTEGER NOT NULL DEFAULT 1,
    "vps" BIGINT NOT NULL DEFAULT 0,
    "nodes" BIGINT NOT NULL DEFAULT 0,

    CONSTRAINT "list_versions_pkey" PRIMARY KEY ("id")
);
INSERT INTO "list_versions" ("id", "vps", "nodes") VALUES (1, 0, 0);

CREATE FUNCTION "bump_vps_list_version"() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  IF current_setting('skiff.vps_list_bumped', true) IS DISTINCT FROM 'on' THEN
    PERFORM set_config('skiff.vps_list_bumped', 'on', true);
    UPDATE "list_versions" SET "vps" = "vps" + 1 WHERE "id" = 1;
  END IF;
  RETURN NULL;
END
$$;

CREATE FUNCTION "bump_node_list_version"() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  IF current_setting('skiff.node_list_bumped', true) IS DISTINCT FROM 'on' THEN
    PERFORM set_config('skiff.node_list_bumped', 'on', true);
    UPDATE "list_versions" SET "nodes" = "nodes" + 1 WHERE "id" = 1;
  END IF;
  RETURN NULL;
END
$$;

CREATE CONSTRAINT TRIGGER "vps_list_version" AFTER INSERT OR UPDATE OR DELETE ON "vps"
  DEFERRABLE INITIALLY DEFERRED FOR EACH ROW EXECUTE FUNCTION "bump_vps_list_version"();
CREATE CONSTRAINT TRIGGER "nodes_list_version" AFTER INSERT OR UPDATE OR DELETE ON "nodes"
  DEFERRABLE INITIALLY DEFERRED FOR EACH ROW EXECUTE FUNCTION "bump_node_list_version"();
-- A migration in flight reserves its VPS's size on the target node (HELD in services/capacity.ts);
-- its rounds' progress changes no list.
CREATE CONSTRAINT TRIGGER "migrations_list_version" AFTER INSERT OR DELETE ON "migrations"
  DEFERRABLE INITIALLY DEFERRED FOR EACH ROW EXECUTE FUNCTION "bump_node_list_version"();
CREATE CONSTRAINT TRIGGER "migrations_list_version_update" AFTER UPDATE ON "migrations"
  DEFERRABLE INITIALLY DEFERRED FOR EACH ROW
  WHEN (OLD."finished_at" IS DISTINCT FROM NEW."finished_at" OR OLD."vps_id" IS DISTINCT FROM NEW."vps_id"
    OR OLD."target_node_id" IS DISTINCT FROM NEW."target_node_id")
  EXECUTE FUNCTION "bump_node_list_version"();

CREATE TRIGGER "vps_list_version_truncate" AFTER TRUNCATE ON "vps"
  FOR EACH STATEMENT EXECUTE FUNCTION "bump_vps_list_version"();
CREATE TRIGGER "nodes_list_version_truncate" AFTER TRUNCATE ON "nodes"
  FOR EACH STATEMENT EXECUTE FUNCTION "bump_node_list_version"();
CREATE TRIGGER "migrations_list_version_truncate" AFTER TRUNCATE ON "migrations"
  FOR EACH STATEMENT EXECUTE FUNCTION "bump_node_list_version"();
