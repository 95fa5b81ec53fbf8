-- Sweeps run by `weaver worker` processes (ADR 0023). A sweep posted while the server runs with
-- external workers is cut into chunks of consecutive points; a worker leases one chunk at a
-- time, keeps the lease alive with heartbeats and marks it done once every point of it is
-- stored. A lease that runs out (its worker died) is taken by the next worker, which skips the
-- points already stored.
create table sweep_chunks (
    sweep_id     bigint not null references sweeps (id),
    chunk        bigint not null,
    first_idx    bigint not null,
    end_idx      bigint not null,
    status       text not null check (status in ('pending', 'leased', 'done')),
    worker       text,
    lease_until  timestamptz,
    attempts     integer not null,
    updated_at   timestamptz not null,
    primary key (sweep_id, chunk)
);
create index sweep_chunks_open_idx on sweep_chunks (sweep_id, chunk) where status <> 'done';

-- Backtests and walk-forward analyses posted to a server with external workers: one lease each,
-- held by the worker running the whole job (a walk-forward resumed by another worker skips the
-- windows stored; a backtest is run again). Closed (`done`) when the job ends or is cancelled.
create table job_leases (
    kind         text not null check (kind in ('backtest', 'walkforward')),
    job_id       bigint not null,
    status       text not null check (status in ('pending', 'leased', 'done')),
    worker       text,
    lease_until  timestamptz,
    attempts     integer not null,
    updated_at   timestamptz not null,
    primary key (kind, job_id)
);
create index job_leases_open_idx on job_leases (job_id) where status <> 'done';

-- Strategy components by sha256, so a worker on another machine needs only the database.
-- The server's `<data>/components/<sha256>.wasm` files stay its local copy.
create table component_blobs (
    sha256      text primary key,
    bytes       bytea not null,
    created_at  timestamptz not null
);
