-- Sweeps run by `weaver worker` processes (ADR 0023). SQLite twin of
-- migrations/postgres/0020_workers.sql (workers themselves need PostgreSQL; the tables are kept
-- alike so both stores have one schema).
create table sweep_chunks (
    sweep_id     integer not null references sweeps (id),
    chunk        integer not null,
    first_idx    integer not null,
    end_idx      integer not null,
    status       text not null check (status in ('pending', 'leased', 'done')),
    worker       text,
    lease_until  text,
    attempts     integer not null,
    updated_at   text not null,
    primary key (sweep_id, chunk)
);
create index sweep_chunks_open_idx on sweep_chunks (sweep_id, chunk) where status <> 'done';

-- Backtests and walk-forward analyses posted to a server with external workers: one lease each,
-- held by the worker running the whole job (a walk-forward resumed by another worker skips the
-- windows stored; a backtest is run again). Closed (`done`) when the job ends or is cancelled.
create table job_leases (
    kind         text not null check (kind in ('backtest', 'walkforward')),
    job_id       integer not null,
    status       text not null check (status in ('pending', 'leased', 'done')),
    worker       text,
    lease_until  text,
    attempts     integer not null,
    updated_at   text not null,
    primary key (kind, job_id)
);
create index job_leases_open_idx on job_leases (job_id) where status <> 'done';

-- Strategy components by sha256, so a worker on another machine needs only the database.
create table component_blobs (
    sha256      text primary key,
    bytes       blob not null,
    created_at  text not null
);
