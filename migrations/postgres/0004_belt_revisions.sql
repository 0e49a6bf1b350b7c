-- The full document of every stored version of a belt (docs/api.md#revisions-and-rollback): what
-- a rollback brings back. Written in the transaction of the create or replace that made the
-- version, pruned there to the newest BELT_REVISION_RETENTION, and removed with the belt.
CREATE TABLE belt_revisions (
    belt_id            BIGINT  NOT NULL REFERENCES belts (id) ON DELETE CASCADE,
    version            BIGINT  NOT NULL,
    project            TEXT    NOT NULL,
    spec               TEXT    NOT NULL,
    created_by_name    TEXT    NOT NULL,
    created_by_email   TEXT    NOT NULL,
    created_at_ms      BIGINT  NOT NULL,
    modified_by_name   TEXT    NOT NULL,
    modified_by_email  TEXT    NOT NULL,
    modified_at_ms     BIGINT  NOT NULL,
    -- the version whose content this one restored, when a rollback made it
    rollback_of        BIGINT,
    PRIMARY KEY (belt_id, version)
);

-- Every belt that exists starts its history with the version it is at.
INSERT INTO belt_revisions (belt_id, version, project, spec, created_by_name, created_by_email,
    created_at_ms, modified_by_name, modified_by_email, modified_at_ms, rollback_of)
SELECT id, version, project, spec, created_by_name, created_by_email, created_at_ms,
    modified_by_name, modified_by_email, modified_at_ms, NULL
FROM belts;
