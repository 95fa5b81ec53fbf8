-- Promotion and rollback (ADR 0019): the strategy versions a run has run, one row per switch
-- asked for. PostgreSQL twin of migrations/sqlite/0018_run_versions.sql.

-- `seq` 1 (`reason = 'start'`) is the version the run started with, written with the first
-- switch asked for (a run that never switched has no rows: its start is read off `runs`).
-- A switch is `pending` until the run's task makes it at a bar boundary (`active`, the one
-- before it `superseded`) or cannot (`failed`, with the code); at most one is pending per run.
create table run_versions (
    run_id              bigint not null references runs (id),
    seq                 bigint not null check (seq > 0),
    strategy_id         bigint not null references strategies (id),
    params              jsonb not null,
    reason              text not null
                        check (reason in ('start', 'promote', 'rollback', 'auto_rollback')),
    state               text not null check (state in ('replay', 'fresh')),
    shadow_id           bigint references run_shadows (id),
    status              text not null check (status in ('pending', 'active', 'superseded', 'failed')),
    requested_at        timestamptz not null,
    switched_at         timestamptz,
    at_bar              timestamptz,
    replayed            bigint,
    error_code          text,
    auto_rollback_bars  bigint not null default 0,
    primary key (run_id, seq)
);
