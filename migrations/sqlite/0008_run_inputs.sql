-- Replay: what a run on a live venue was told that stored candles cannot give back (its own
-- order updates, account snapshots, venue history for data windows) and which bars it got, in
-- the order its runner took them. SQLite twin of migrations/postgres/0008_run_inputs.sql.
-- `seq` is per run, from 1; `body` is the input as JSON text (numbers exactly as recorded).
create table run_inputs (
    id          integer primary key autoincrement,
    run_id      integer not null references runs (id),
    seq         integer not null check (seq > 0),
    kind        text not null,
    body        text not null,
    created_at  text not null,
    unique (run_id, seq)
);
