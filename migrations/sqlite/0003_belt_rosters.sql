-- Per project, a number that changes in the same transaction as any change to which belts exist or
-- what they are named. List keeps the ids matching a search for one revision, so paging through a
-- search costs the same at 100 belts as at 100k; the triggers make every writer, including SQL
-- typed by an operator, move the revision. Rows are never deleted: a revision must never repeat.
CREATE TABLE belt_rosters (
    project   TEXT    NOT NULL PRIMARY KEY,
    revision  INTEGER NOT NULL
);
INSERT INTO belt_rosters (project, revision) SELECT DISTINCT project, 1 FROM belts;

CREATE TRIGGER belts_roster_after_insert AFTER INSERT ON belts BEGIN
    INSERT INTO belt_rosters (project, revision) VALUES (NEW.project, 1)
        ON CONFLICT (project) DO UPDATE SET revision = revision + 1;
END;

CREATE TRIGGER belts_roster_after_delete AFTER DELETE ON belts BEGIN
    UPDATE belt_rosters SET revision = revision + 1 WHERE project = OLD.project;
END;

CREATE TRIGGER belts_roster_after_rename AFTER UPDATE OF project, name_folded ON belts
    WHEN OLD.project IS NOT NEW.project OR OLD.name_folded IS NOT NEW.name_folded BEGIN
    INSERT INTO belt_rosters (project, revision) VALUES (NEW.project, 1)
        ON CONFLICT (project) DO UPDATE SET revision = revision + 1;
    UPDATE belt_rosters SET revision = revision + 1
        WHERE project = OLD.project AND OLD.project IS NOT NEW.project;
END;

-- The scan a list makes when the revision has moved reads only this index, never the ~1 KB rows
-- beside it (PostgreSQL, 100k belts: an index-only scan instead of reading the whole table).
-- It leads with (project, id), so it serves everything the index it replaces did.
CREATE INDEX belts_project_id_name ON belts (project, id, name_folded);
DROP INDEX belts_project_id;
