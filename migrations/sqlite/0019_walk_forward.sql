-- Overfitting figures of sweeps and walk-forward analyses (ADR 0020). SQLite twin of
-- migrations/postgres/0019_walk_forward.sql.

-- Each done point's returns over the sweep's fixed blocks of bars (the same blocks for every
-- point), what the deflated Sharpe ratio and the PBO are computed from; and the figures, stored
-- when the sweep ends.
alter table sweep_points add column returns text;
alter table sweeps add column overfitting text;

-- One row per walk-forward: the request as posted, the windows planned over the data (their
-- bar ranges and times, fixed when it was posted), and what is computed when it ends.
create table walkforwards (
    id            integer primary key autoincrement,
    strategy_id   integer references strategies (id),
    config        text not null,
    status        text not null check (status in ('queued', 'running', 'done', 'failed', 'cancelled')),
    plan          text not null,
    points        integer not null,
    stitched      text,
    overfitting   text,
    error         text,
    created_at    text not null,
    updated_at    text not null,
    finished_at   text
);

-- One row per finished window: the in-sample optimisation's best point and the out-of-sample
-- run of it (summary, the compact curve and trades the stitched result is built from, and the
-- full report). Written once; a resumed walk-forward skips the windows stored.
create table walkforward_windows (
    walkforward_id      integer not null references walkforwards (id),
    idx                 integer not null,
    status              text not null check (status in ('done', 'failed')),
    error               text,
    best_params         text,
    in_sample_objective real,
    in_sample           text,
    out_of_sample       text,
    trials              integer not null,
    trial_sharpe_variance real,
    detail              text,
    report              text,
    created_at          text not null,
    primary key (walkforward_id, idx)
);
