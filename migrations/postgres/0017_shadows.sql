-- Shadow runs (ADR 0018): another version of a run's strategy (or the same with other
-- parameters) fed the run's bars in its own sandbox, trading on its own simulated exchange.
-- PostgreSQL twin of migrations/sqlite/0017_shadows.sql.

-- One row per shadow: the run it follows, the strategy version and parameters it runs, and how
-- it stands (`running` until the run ends, it is stopped or it fails; a `running` shadow is
-- resumed with its run after a restart).
create table run_shadows (
    id           bigint generated always as identity primary key,
    run_id       bigint not null references runs (id),
    strategy_id  bigint not null references strategies (id),
    params       jsonb not null,
    status       text not null check (status in ('running', 'stopped', 'failed')),
    error_code   text,
    stopped_at   timestamptz,
    created_at   timestamptz not null default now(),
    updated_at   timestamptz not null default now()
);
create index run_shadows_run_idx on run_shadows (run_id);

-- A shadow's decisions: one row per guest call (`seq` from 1, in call order), the time of the
-- event it answered, its intents and, after a bar, the equity of the shadow's simulated
-- account and of the run's account at that bar. Writing a row again is a no-op.
create table shadow_decisions (
    shadow_id   bigint not null references run_shadows (id),
    seq         bigint not null check (seq > 0),
    bar_ts      timestamptz not null,
    event_type  text not null,
    intents     jsonb not null,
    equity      double precision,
    run_equity  double precision,
    primary key (shadow_id, seq)
);
