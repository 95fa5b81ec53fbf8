-- Decisions: the projection of strategy.DecisionMade events. PostgreSQL twin of
-- migrations/sqlite/0006_strategy_decisions.sql.
alter table strategy_results add column decision_event_id uuid;
alter table strategy_results add column bar_ts timestamptz;
alter table strategy_results add column fuel bigint;
alter table strategy_results add column latency_us bigint;
create unique index strategy_results_decision_idx on strategy_results (decision_event_id);
