-- Per project, a number that changes in the same transaction as any change to which belts exist or
-- what they are named. List keeps the ids matching a search for one revision, so paging through a
-- search costs the same at 100 belts as at 100k; the triggers make every writer, including SQL
-- typed by an operator, move the revision. Rows are never deleted: a revision must never repeat.
CREATE TABLE belt_rosters (
    project   TEXT   NOT NULL PRIMARY KEY,
    revision  BIGINT NOT NULL
);
INSERT INTO belt_rosters (project, revision) SELECT DISTINCT project, 1 FROM belts;

CREATE FUNCTION belt_roster_changed() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF TG_OP IN ('DELETE', 'UPDATE') THEN
        UPDATE belt_rosters SET revision = revision + 1 WHERE project = OLD.project;
    END IF;
    IF TG_OP = 'DELETE' THEN
        RETURN OLD;
    END IF;
    IF TG_OP = 'INSERT' OR OLD.project IS DISTINCT FROM NEW.project THEN
        INSERT INTO belt_rosters (project, revision) VALUES (NEW.project, 1)
            ON CONFLICT (project) DO UPDATE SET revision = belt_rosters.revision + 1;
    END IF;
    RETURN NEW;
END
$$;

-- Deferred to COMMIT, so the project's roster row is locked only while the transaction commits
-- and concurrent creates in one project queue for as short as possible.
CREATE CONSTRAINT TRIGGER belts_roster_after_insert_or_delete AFTER INSERT OR DELETE ON belts
    DEFERRABLE INITIALLY DEFERRED
    FOR EACH ROW EXECUTE FUNCTION belt_roster_changed();

CREATE CONSTRAINT TRIGGER belts_roster_after_rename AFTER UPDATE OF project, name_folded ON belts
    DEFERRABLE INITIALLY DEFERRED
    FOR EACH ROW
    WHEN (OLD.project IS DISTINCT FROM NEW.project OR OLD.name_folded IS DISTINCT FROM NEW.name_folded)
    EXECUTE FUNCTION belt_roster_changed();

-- The scan a list makes when the revision has moved reads only this index, never the ~1 KB rows
-- beside it (PostgreSQL, 100k belts: an index-only scan instead of reading the whole table).
-- It leads with (project, id), so it serves everything the index it replaces did.
CREATE INDEX belts_project_id_name ON belts (project, id, name_folded);
DROP INDEX belts_project_id;
