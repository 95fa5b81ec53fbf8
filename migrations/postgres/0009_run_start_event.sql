-- The event that started a run (its `run.StatusChanged` to `running`): what the run does on bars
-- that are not events themselves (candles replayed by the simulated exchange) names it as its
-- cause, so `GET /events?corr_id=` links the request → run start → decision → order → fill. Kept
-- on the row because a run can outlive the retention of its first events.
alter table runs add column start_event_id text;
