-- Adjusted downloads and download jobs (issue #21, "Data"). PostgreSQL twin of
-- migrations/sqlite/0013_series_adjustment.sql.
-- `candles.adjustment`: the price adjustment Alpaca applied to a downloaded bar (`raw`, `split`,
-- `dividend`, `all`); NULL when unknown (CSV imports, synthetic, sample and live bars).
-- `jobs`: background work the API started (`kind = 'download'`), kept so a restart resumes a
-- job left `running` from its `cursor` (the symbol being fetched and the next page token)
-- instead of starting over.
alter table candles add column adjustment text;

create table jobs (
    id           bigint generated always as identity primary key,
    kind         text not null,
    status       text not null check (status in ('queued', 'running', 'done', 'failed')),
    spec         jsonb not null,
    progress     jsonb not null,
    cursor       jsonb,
    error        text,
    started_at   timestamptz,
    finished_at  timestamptz,
    created_at   timestamptz not null,
    updated_at   timestamptz not null
);
create index jobs_status_idx on jobs (status);
