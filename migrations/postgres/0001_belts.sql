-- The Belt Store. The spec is one JSON document (it is only ever read and written whole); the
-- columns beside it are what the store itself must index, order, count or enforce.
CREATE TABLE belts (
    id                 BIGINT  NOT NULL PRIMARY KEY,
    project            TEXT    NOT NULL,
    name               TEXT    NOT NULL,
    -- lower-cased name, so search is case-insensitive for every script on both databases
    name_folded        TEXT    NOT NULL,
    version            BIGINT  NOT NULL,
    spec               TEXT    NOT NULL,
    created_by_name    TEXT    NOT NULL,
    created_by_email   TEXT    NOT NULL,
    created_at_ms      BIGINT  NOT NULL,
    modified_by_name   TEXT    NOT NULL,
    modified_by_email  TEXT    NOT NULL,
    modified_at_ms     BIGINT  NOT NULL,
    CONSTRAINT belts_project_name_key UNIQUE (project, name)
);

CREATE INDEX belts_project_id ON belts (project, id);

-- Ids handed out when a create names none. Explicit ids never move it, so a huge explicit id
-- cannot exhaust automatic ones; an automatic id that an explicit one already took is skipped.
CREATE SEQUENCE belt_id_sequence AS BIGINT START WITH 1;
