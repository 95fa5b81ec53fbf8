-- Disabling strategies, and durable control-plane settings (the global trading state).
-- The SQLite twin is migrations/sqlite/0002_strategy_disable_settings.sql.

-- A disabled strategy keeps its compile status in `status`; reads report `disabled` while
-- disabled_at is set, so no check constraint has to change.
alter table strategies add column disabled_at timestamptz;

-- Key/value settings written through WallE (for example `trading_state`).
create table settings (
    id          bigint generated always as identity primary key,
    key         text not null unique,
    value       text not null,
    created_at  timestamptz not null default now(),
    updated_at  timestamptz not null default now()
);
