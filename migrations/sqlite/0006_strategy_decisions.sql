-- Decisions: the projection of strategy.DecisionMade events (one row per decision of a run: the
-- bar time it answered, its intents, the fuel and wall time of the call). The decision event's
-- id makes the projection idempotent (consumers deliver at least once).
alter table strategy_results add column decision_event_id blob;
alter table strategy_results add column bar_ts text;
alter table strategy_results add column fuel integer;
alter table strategy_results add column latency_us integer;
create unique index strategy_results_decision_idx on strategy_results (decision_event_id);
