-- Sample events saved with a belt under a name (docs/api.md#saved-samples), replayed through
-- test-invoke. Not versioned: a save replaces the sample of its name. Removed with the belt, in the
-- transaction that removes its document.
CREATE TABLE belt_samples (
    belt_id         INTEGER NOT NULL REFERENCES belts (id) ON DELETE CASCADE,
    name            TEXT    NOT NULL,
    project         TEXT    NOT NULL,
    -- the events as the API answers them, a JSON list
    events          TEXT    NOT NULL,
    saved_by_name   TEXT    NOT NULL,
    saved_by_email  TEXT    NOT NULL,
    saved_at_ms     INTEGER NOT NULL,
    PRIMARY KEY (belt_id, name)
);

-- The foreign key cascades only on connections that turned foreign keys on; the trigger also
-- covers every other writer, such as SQL typed by an operator.
CREATE TRIGGER belts_samples_after_delete AFTER DELETE ON belts BEGIN
    DELETE FROM belt_samples WHERE belt_id = OLD.id;
END;
