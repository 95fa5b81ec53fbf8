-- Parameter sweeps started from the API (ADR 0016): one row per sweep, one per finished point,
-- written as each point ends so results stream in and a restart skips what is stored.
create table sweeps (
    id           bigint generated always as identity primary key,
    strategy_id  bigint references strategies (id),
    config       jsonb not null,
    status       text not null check (status in ('queued', 'running', 'done', 'failed', 'cancelled')),
    total        bigint not null,
    error        text,
    created_at   timestamptz not null default now(),
    updated_at   timestamptz not null default now()
);

create table sweep_points (
    sweep_id    bigint not null references sweeps (id),
    idx         bigint not null,
    params      jsonb not null,
    status      text not null check (status in ('done', 'failed')),
    error       text,
    metrics     jsonb,
    feasible    boolean not null,
    objective   double precision,
    created_at  timestamptz not null default now(),
    primary key (sweep_id, idx)
);
create index sweep_points_objective_idx on sweep_points (sweep_id, feasible, objective);
