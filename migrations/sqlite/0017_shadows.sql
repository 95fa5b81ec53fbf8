-- Shadow runs (ADR 0018): another version of a run's strategy (or the same with other
-- parameters) fed the run's bars in its own sandbox, trading on its own simulated exchange.
-- SQLite twin of migrations/postgres/0017_shadows.sql.

-- One row per shadow: the run it follows, the strategy version and parameters it runs, and how
-- it stands (`running` until the run ends, it is stopped or it fails; a `running` shadow is
-- resumed with its run after a restart).
create table run_shadows (
    id           integer primary key autoincrement,
    run_id       integer not null references runs (id),
    strategy_id  integer not null references strategies (id),
    params       text not null,
    status       text not null check (status in ('running', 'stopped', 'failed')),
    error_code   text,
    stopped_at   text,
    created_at   text not null,
    updated_at   text not null
);
create index run_shadows_run_idx on run_shadows (run_id);

-- A shadow's decisions: one row per guest call (`seq` from 1, in call order), the time of the
-- event it answered, its intents and, after a bar, the equity of the shadow's simulated
-- account and of the run's account at that bar. Writing a row again is a no-op.
create table shadow_decisions (
    shadow_id   integer not null references run_shadows (id),
    seq         integer not null check (seq > 0),
    bar_ts      text not null,
    event_type  text not null,
    intents     text not null,
    equity      real,
    run_equity  real,
    primary key (shadow_id, seq)
);
