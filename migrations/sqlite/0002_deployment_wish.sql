-- The wish a START or STOP stores before any runtime is touched (CONTRACT §7): what should run,
-- at which version, and how many STARTs there have been. The reconciler drives the runtime toward
-- it, so a crash between storing and deploying loses nothing.
ALTER TABLE belts ADD COLUMN desired_state TEXT NOT NULL DEFAULT 'STOPPED';
-- the belt version the last START deployed, and its spec (a PUT while running does not redeploy)
ALTER TABLE belts ADD COLUMN deployed_version INTEGER;
ALTER TABLE belts ADD COLUMN deployed_spec TEXT;
-- counts STARTs; generation 1 is the first start ever, the only one that gets PARTITION_OFFSETS
ALTER TABLE belts ADD COLUMN generation INTEGER NOT NULL DEFAULT 0;

CREATE INDEX belts_desired_state ON belts (desired_state, id);
