-- A belt's consumer lag over time (docs/api.md#lag-over-time), one row per measurement of the lag
-- controller, kept a day. A belt is known by its project, id and creation time: ids can be taken
-- again after a delete, and a new belt must not inherit the old one's series.
CREATE TABLE lag_samples (
    project TEXT NOT NULL,
    belt_id BIGINT NOT NULL,
    belt_created_ms BIGINT NOT NULL,
    at_ms BIGINT NOT NULL,
    total_lag BIGINT NOT NULL,
    committed BIGINT NOT NULL,
    PRIMARY KEY (project, belt_id, belt_created_ms, at_ms)
);
CREATE INDEX lag_samples_by_age ON lag_samples (at_ms);
