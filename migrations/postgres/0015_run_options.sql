-- A run's bar options (`extended_hours`, `empty_bars`, `warmup`) as given, so a run resumed
-- after a restart builds its bars as it did before (ADR 0014). Null: a run stored before
-- options were kept (resumed with the defaults).
alter table runs add column options jsonb;
