-- Weaver schema, PostgreSQL dialect (>= 13 for xid8). The SQLite twin is migrations/sqlite/.
-- Every table has id, created_at, updated_at (UTC). Timestamps are written by WallE, not by
-- defaults, so both backends store the same instants.

create table strategies (
    id          bigint generated always as identity primary key,
    sha256      text not null unique,
    name        text not null,
    version     text not null,
    language    text not null,
    size_bytes  bigint not null check (size_bytes >= 0),
    status      text not null check (status in ('uploaded', 'compiling', 'ready', 'rejected')),
    error       text,
    created_at  timestamptz not null default now(),
    updated_at  timestamptz not null default now()
);
create index strategies_name_idx on strategies (name, created_at);

create table runs (
    id           bigint generated always as identity primary key,
    strategy_id  bigint not null references strategies (id),
    mode         text not null check (mode in ('backtest', 'paper', 'live')),
    venue        text not null,
    params       jsonb not null,
    symbols      jsonb not null,
    timeframe    text not null,
    status       text not null check (status in ('created', 'running', 'stopping', 'stopped', 'failed')),
    error_code   text,
    started_at   timestamptz,
    stopped_at   timestamptz,
    created_at   timestamptz not null default now(),
    updated_at   timestamptz not null default now()
);
create index runs_strategy_idx on runs (strategy_id);
create index runs_status_idx on runs (status);

create table orders (
    id                 bigint generated always as identity primary key,
    client_order_id    text not null unique,
    exchange_order_id  text unique,
    run_id             bigint references runs (id),
    symbol             text not null,
    side               text not null check (side in ('buy', 'sell')),
    order_type         text not null check (order_type in ('market', 'limit', 'stop', 'stop_limit')),
    time_in_force      text not null check (time_in_force in ('day', 'gtc', 'ioc', 'fok')),
    quantity           numeric,
    notional           numeric,
    limit_price        numeric,
    stop_price         numeric,
    status             text not null,
    filled_quantity    numeric not null default 0,
    average_price      numeric,
    submitted_at       timestamptz,
    filled_at          timestamptz,
    canceled_at        timestamptz,
    created_at         timestamptz not null default now(),
    updated_at         timestamptz not null default now(),
    check ((quantity is null) <> (notional is null))
);
create index orders_run_idx on orders (run_id, id);
create index orders_symbol_idx on orders (symbol, id);
create index orders_status_idx on orders (status, id);
create index orders_created_idx on orders (created_at, id);

create table fills (
    id             bigint generated always as identity primary key,
    order_id       bigint not null references orders (id),
    venue_fill_id  text not null unique,
    quantity       numeric not null,
    price          numeric not null,
    fee            numeric not null default 0,
    filled_at      timestamptz not null,
    created_at     timestamptz not null default now(),
    updated_at     timestamptz not null default now()
);
create index fills_order_idx on fills (order_id, id);

create table candles (
    id          bigint generated always as identity primary key,
    symbol      text not null,
    timeframe   text not null,
    ts          timestamptz not null,
    open        double precision not null,
    high        double precision not null,
    low         double precision not null,
    close       double precision not null,
    volume      double precision not null,
    source      text not null,
    created_at  timestamptz not null default now(),
    updated_at  timestamptz not null default now(),
    unique (symbol, timeframe, ts)
);

create table backtests (
    id           bigint generated always as identity primary key,
    strategy_id  bigint references strategies (id),
    run_id       bigint references runs (id),
    config       jsonb not null,
    status       text not null check (status in ('queued', 'running', 'done', 'failed', 'cancelled')),
    metrics      jsonb,
    trades       jsonb,
    equity       jsonb,
    error        text,
    created_at   timestamptz not null default now(),
    updated_at   timestamptz not null default now()
);
create index backtests_created_idx on backtests (created_at, id);

create table strategy_results (
    id              bigint generated always as identity primary key,
    run_id          bigint not null references runs (id),
    cause_event_id  uuid not null,
    intents         jsonb not null,
    created_at      timestamptz not null default now(),
    updated_at      timestamptz not null default now()
);
create index strategy_results_run_idx on strategy_results (run_id, id);

-- The outbox. Consumers read in (transaction_id, id) order and only below the snapshot horizon
-- pg_snapshot_xmin(pg_current_snapshot()), so a transaction that commits late stalls them but is
-- never skipped (notes/reliability.md §1.2).
create table outbox (
    id              bigint generated always as identity primary key,
    transaction_id  xid8 not null default pg_current_xact_id(),
    event_id        uuid not null unique,
    kind            text not null check (kind in ('evt', 'cmd')),
    event_type      text not null,
    version         integer not null,
    run_id          text,
    corr_id         text not null,
    causation_id    text,
    trace_id        text,
    ts              timestamptz not null,
    producer        text not null,
    headers         jsonb not null,
    payload         jsonb not null,
    created_at      timestamptz not null default now(),
    updated_at      timestamptz not null default now()
);
create index outbox_cursor_idx on outbox (transaction_id, id);
create index outbox_created_idx on outbox (created_at);

create table consumer_offsets (
    id          bigint generated always as identity primary key,
    consumer    text not null unique,
    last_xid    xid8 not null default '0',
    last_id     bigint not null default 0,
    created_at  timestamptz not null default now(),
    updated_at  timestamptz not null default now()
);
