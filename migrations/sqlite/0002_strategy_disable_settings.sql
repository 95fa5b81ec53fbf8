-- Disabling strategies, and durable control-plane settings (the global trading state).
-- The PostgreSQL twin is migrations/postgres/0002_strategy_disable_settings.sql.

-- A disabled strategy keeps its compile status in `status`; reads report `disabled` while
-- disabled_at is set, so the table (and its check constraint) need not be rebuilt.
alter table strategies add column disabled_at text;

-- Key/value settings written through WallE (for example `trading_state`).
create table settings (
    id          integer primary key autoincrement,
    key         text not null unique,
    value       text not null,
    created_at  text not null,
    updated_at  text not null
);
