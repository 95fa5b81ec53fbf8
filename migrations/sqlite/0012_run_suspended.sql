-- no-transaction
-- A run the server suspended at a shutdown (SIGTERM, an upgrade) is `suspended`: the next start
-- resumes it, as it resumes runs a crash left `running`. Only an explicit stop stops a run.
-- SQLite cannot change a CHECK constraint: the table is rebuilt (ids kept, so the tables that
-- reference runs still point at their rows), with foreign keys off for the rebuild, which
-- is why this migration runs outside sqlx's transaction and opens its own.
PRAGMA foreign_keys = OFF;
BEGIN;
CREATE TABLE runs_new (
    id             integer primary key autoincrement,
    strategy_id    integer not null references strategies (id),
    mode           text not null check (mode in ('backtest', 'paper', 'live')),
    venue          text not null,
    params         text not null,
    symbols        text not null,
    timeframe      text not null,
    status         text not null
        check (status in ('created', 'running', 'stopping', 'stopped', 'failed', 'suspended')),
    error_code     text,
    started_at     text,
    stopped_at     text,
    created_at     text not null,
    updated_at     text not null,
    limits         text,
    start_event_id text,
    risk           text
);
INSERT INTO runs_new (id, strategy_id, mode, venue, params, symbols, timeframe, status,
                      error_code, started_at, stopped_at, created_at, updated_at, limits,
                      start_event_id, risk)
    SELECT id, strategy_id, mode, venue, params, symbols, timeframe, status, error_code,
           started_at, stopped_at, created_at, updated_at, limits, start_event_id, risk
    FROM runs;
DROP TABLE runs;
ALTER TABLE runs_new RENAME TO runs;
CREATE INDEX runs_strategy_idx on runs (strategy_id);
CREATE INDEX runs_status_idx on runs (status);
PRAGMA foreign_key_check;
COMMIT;
PRAGMA foreign_keys = ON;
