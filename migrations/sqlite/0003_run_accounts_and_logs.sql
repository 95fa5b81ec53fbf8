-- Paper runs (GLaDOS run_exec): each run's paper account and its log. SQLite twin of
-- migrations/postgres/0003_run_accounts_and_logs.sql.

-- One row per paper run: the starting cash chosen at POST /runs, how far the replay got (bars
-- delivered; a resumed run fast-forwards to here) and the latest account snapshot (cash, equity,
-- PnL, positions, last trade) written at every heartbeat and when the run ends.
create table run_accounts (
    id          integer primary key autoincrement,
    run_id      integer not null unique references runs (id),
    cash        real not null check (cash > 0),
    bars        integer not null default 0 check (bars >= 0),
    snapshot    text,
    created_at  text not null,
    updated_at  text not null
);

-- A run's log: lifecycle messages, the strategy's log intents, its captured stdout/stderr and
-- errors. `seq` is per run, from 1, without gaps.
create table run_logs (
    id          integer primary key autoincrement,
    run_id      integer not null references runs (id),
    seq         integer not null check (seq > 0),
    ts          text not null,
    level       text not null check (level in ('debug', 'info', 'warn', 'error')),
    message     text not null,
    created_at  text not null,
    updated_at  text not null,
    unique (run_id, seq)
);
