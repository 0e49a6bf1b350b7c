-- What a replica printed is shown to editors only (docs/api.md#who-sees-replica-output), so an
-- event keeps it apart from belt-api's own words. Reasons recorded before quoted a crashed
-- replica's last line after "replica NAME exited CODE: "; it moves to the new column.
ALTER TABLE belt_events ADD COLUMN output TEXT;
UPDATE belt_events
SET output = substr(reason, instr(reason, ': ') + 2),
    reason = substr(reason, 1, instr(reason, ': ') - 1)
WHERE action = 'statusChanged' AND reason LIKE 'replica % exited %: %';
