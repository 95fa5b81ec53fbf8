-- Per-run sandbox limits and a run's stored figures. The PostgreSQL twin is
-- migrations/postgres/0004_run_limits_and_figures.sql.

-- What the run asked for instead of its strategy tier's limits (`marvin::LimitRequest` as JSON:
-- fuel_per_event, fuel_per_bar, max_memory_bytes; null when it asked for nothing), so a run
-- resumed after a restart gets the same limits.
alter table runs add column limits text;

-- The run's figures (calls, fuel, memory, the limits in force, …), written with the account
-- snapshot at every heartbeat and when the run ends, so an ended run's figures are read from
-- here rather than kept in the server's memory.
alter table run_accounts add column figures text;
