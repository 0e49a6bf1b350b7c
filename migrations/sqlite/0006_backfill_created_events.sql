-- Belts created before the event log existed get one event: their creation, by whom and when, the
-- belt stopped (as every create records), with a reason saying that what happened to them before
-- this was not recorded. Without it their history is empty and the status-events controller
-- has no status to compare the runtime's with.
INSERT INTO belt_events (project, belt_id, at_ms, actor, action, version, from_status, to_status, reason)
SELECT b.project, b.id, b.created_at_ms, b.created_by_name, 'created', NULL, NULL, 'STOPPED',
       'recorded when belt-api began keeping history; earlier changes were not recorded'
FROM belts b
WHERE NOT EXISTS (SELECT 1 FROM belt_events e WHERE e.project = b.project AND e.belt_id = b.id)
ORDER BY b.id;
