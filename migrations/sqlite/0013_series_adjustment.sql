-- Adjusted downloads and download jobs (issue #21, "Data").
-- `candles.adjustment`: the price adjustment Alpaca applied to a downloaded bar (`raw`, `split`,
-- `dividend`, `all`); NULL when unknown (CSV imports, synthetic, sample and live bars).
-- `jobs`: background work the API started (`kind = 'download'`), kept so a restart resumes a
-- job left `running` from its `cursor` (JSON: the symbol being fetched and the next page token)
-- instead of starting over. `spec`, `progress` and `cursor` are JSON text.
alter table candles add column adjustment text;

create table jobs (
    id           integer primary key autoincrement,
    kind         text not null,
    status       text not null check (status in ('queued', 'running', 'done', 'failed')),
    spec         text not null,
    progress     text not null,
    cursor       text,
    error        text,
    started_at   text,
    finished_at  text,
    created_at   text not null,
    updated_at   text not null
);
create index jobs_status_idx on jobs (status);
