-- Overfitting figures of sweeps and walk-forward analyses (ADR 0020). PostgreSQL twin of
-- migrations/sqlite/0019_walk_forward.sql.

-- Each done point's returns over the sweep's fixed blocks of bars (the same blocks for every
-- point), what the deflated Sharpe ratio and the PBO are computed from; and the figures, stored
-- when the sweep ends.
alter table sweep_points add column returns jsonb;
alter table sweeps add column overfitting jsonb;

-- One row per walk-forward: the request as posted, the windows planned over the data (their
-- bar ranges and times, fixed when it was posted), and what is computed when it ends.
create table walkforwards (
    id            bigint generated always as identity primary key,
    strategy_id   bigint references strategies (id),
    config        jsonb not null,
    status        text not null check (status in ('queued', 'running', 'done', 'failed', 'cancelled')),
    plan          jsonb not null,
    points        bigint not null,
    stitched      jsonb,
    overfitting   jsonb,
    error         text,
    created_at    timestamptz not null,
    updated_at    timestamptz not null,
    finished_at   timestamptz
);

-- One row per finished window: the in-sample optimisation's best point and the out-of-sample
-- run of it (summary, the compact curve and trades the stitched result is built from, and the
-- full report). Written once; a resumed walk-forward skips the windows stored.
create table walkforward_windows (
    walkforward_id      bigint not null references walkforwards (id),
    idx                 bigint not null,
    status              text not null check (status in ('done', 'failed')),
    error               text,
    best_params         jsonb,
    in_sample_objective double precision,
    in_sample           jsonb,
    out_of_sample       jsonb,
    trials              bigint not null,
    trial_sharpe_variance double precision,
    detail              jsonb,
    report              jsonb,
    created_at          timestamptz not null,
    primary key (walkforward_id, idx)
);
