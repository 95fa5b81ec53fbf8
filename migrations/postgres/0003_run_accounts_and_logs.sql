-- Paper runs (GLaDOS run_exec): each run's paper account and its log. PostgreSQL twin of
-- migrations/sqlite/0003_run_accounts_and_logs.sql.

-- One row per paper run: the starting cash chosen at POST /runs, how far the replay got (bars
-- delivered; a resumed run fast-forwards to here) and the latest account snapshot (cash, equity,
-- PnL, positions, last trade) written at every heartbeat and when the run ends.
create table run_accounts (
    id          bigint generated always as identity primary key,
    run_id      bigint not null unique references runs (id),
    cash        double precision not null check (cash > 0),
    bars        bigint not null default 0 check (bars >= 0),
    snapshot    jsonb,
    created_at  timestamptz not null default now(),
    updated_at  timestamptz not null default now()
);

-- A run's log: lifecycle messages, the strategy's log intents, its captured stdout/stderr and
-- errors. `seq` is per run, from 1, without gaps.
create table run_logs (
    id          bigint generated always as identity primary key,
    run_id      bigint not null references runs (id),
    seq         bigint not null check (seq > 0),
    ts          timestamptz not null,
    level       text not null check (level in ('debug', 'info', 'warn', 'error')),
    message     text not null,
    created_at  timestamptz not null default now(),
    updated_at  timestamptz not null default now(),
    unique (run_id, seq)
);
