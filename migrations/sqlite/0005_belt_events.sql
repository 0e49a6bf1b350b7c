-- One log of what happened to every belt: each write's event is inserted in the write's own
-- transaction, and the runtime's status changes are recorded as they are seen. The id orders
-- the log; AUTOINCREMENT so that an id is never handed out twice, even after pruning.
CREATE TABLE belt_events (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    project TEXT NOT NULL,
    belt_id BIGINT NOT NULL,
    at_ms BIGINT NOT NULL,
    actor TEXT NOT NULL,
    action TEXT NOT NULL,
    version BIGINT,
    from_status TEXT,
    to_status TEXT,
    reason TEXT
);

CREATE INDEX belt_events_by_belt ON belt_events (project, belt_id, id);
CREATE INDEX belt_events_by_project ON belt_events (project, id);

-- The newest id that pruning removed: a watch resuming from an older id has missed events.
CREATE TABLE belt_event_horizon (
    singleton INTEGER PRIMARY KEY CHECK (singleton = 1),
    pruned_through BIGINT NOT NULL
);
INSERT INTO belt_event_horizon (singleton, pruned_through) VALUES (1, 0);
