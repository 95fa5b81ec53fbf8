-- Parameter sweeps started from the API (ADR 0016): one row per sweep, one per finished point,
-- written as each point ends so results stream in and a restart skips what is stored.
create table sweeps (
    id           integer primary key autoincrement,
    strategy_id  integer references strategies (id),
    config       text not null,
    status       text not null check (status in ('queued', 'running', 'done', 'failed', 'cancelled')),
    total        integer not null,
    error        text,
    created_at   text not null,
    updated_at   text not null
);

create table sweep_points (
    sweep_id    integer not null references sweeps (id),
    idx         integer not null,
    params      text not null,
    status      text not null check (status in ('done', 'failed')),
    error       text,
    metrics     text,
    feasible    boolean not null,
    objective   real,
    created_at  text not null,
    primary key (sweep_id, idx)
);
create index sweep_points_objective_idx on sweep_points (sweep_id, feasible, objective);
