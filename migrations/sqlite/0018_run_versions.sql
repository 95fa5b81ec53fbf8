-- Promotion and rollback (ADR 0019): the strategy versions a run has run, one row per switch
-- asked for. SQLite twin of migrations/postgres/0018_run_versions.sql.

-- `seq` 1 (`reason = 'start'`) is the version the run started with, written with the first
-- switch asked for (a run that never switched has no rows: its start is read off `runs`).
-- A switch is `pending` until the run's task makes it at a bar boundary (`active`, the one
-- before it `superseded`) or cannot (`failed`, with the code); at most one is pending per run.
create table run_versions (
    run_id              integer not null references runs (id),
    seq                 integer not null check (seq > 0),
    strategy_id         integer not null references strategies (id),
    params              text not null,
    reason              text not null
                        check (reason in ('start', 'promote', 'rollback', 'auto_rollback')),
    state               text not null check (state in ('replay', 'fresh')),
    shadow_id           integer references run_shadows (id),
    status              text not null check (status in ('pending', 'active', 'superseded', 'failed')),
    requested_at        text not null,
    switched_at         text,
    at_bar              text,
    replayed            integer,
    error_code          text,
    auto_rollback_bars  integer not null default 0,
    primary key (run_id, seq)
);
