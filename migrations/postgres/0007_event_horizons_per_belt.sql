-- Retention per project with a floor per belt (docs/api.md#history): pruning no longer removes
-- a prefix of all ids, so the newest id pruned is kept per belt. A project's watch may resume
-- after N when no belt of the project lost an event after N; a watch of one belt when that belt
-- did not. belt_event_horizon stays, no longer moved: ids it pruned before this migration were
-- pruned for every project, and a resume point below it is still gone.
CREATE TABLE belt_event_horizons (
    project TEXT NOT NULL,
    belt_id BIGINT NOT NULL,
    pruned_through BIGINT NOT NULL,
    PRIMARY KEY (project, belt_id)
);
