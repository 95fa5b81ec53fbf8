-- Replay: what a run on a live venue was told that stored candles cannot give back (its own
-- order updates, account snapshots, venue history for data windows) and which bars it got, in
-- the order its runner took them. PostgreSQL twin of migrations/sqlite/0008_run_inputs.sql.
-- `seq` is per run, from 1; `body` is the input as JSON text (text, not jsonb: numbers stay
-- exactly as recorded).
create table run_inputs (
    id          bigint generated always as identity primary key,
    run_id      bigint not null references runs (id),
    seq         bigint not null check (seq > 0),
    kind        text not null,
    body        text not null,
    created_at  timestamptz not null default now(),
    unique (run_id, seq)
);
