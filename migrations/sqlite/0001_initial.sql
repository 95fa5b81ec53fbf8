-- Weaver schema, SQLite dialect. The PostgreSQL twin is migrations/postgres/.
-- Timestamps are RFC 3339 UTC text written by WallE; decimals are text (exact, never REAL);
-- uuids are 16-byte blobs; JSON is text.

create table strategies (
    id          integer primary key autoincrement,
    sha256      text not null unique,
    name        text not null,
    version     text not null,
    language    text not null,
    size_bytes  integer not null check (size_bytes >= 0),
    status      text not null check (status in ('uploaded', 'compiling', 'ready', 'rejected')),
    error       text,
    created_at  text not null,
    updated_at  text not null
);
create index strategies_name_idx on strategies (name, created_at);

create table runs (
    id           integer primary key autoincrement,
    strategy_id  integer not null references strategies (id),
    mode         text not null check (mode in ('backtest', 'paper', 'live')),
    venue        text not null,
    params       text not null,
    symbols      text not null,
    timeframe    text not null,
    status       text not null check (status in ('created', 'running', 'stopping', 'stopped', 'failed')),
    error_code   text,
    started_at   text,
    stopped_at   text,
    created_at   text not null,
    updated_at   text not null
);
create index runs_strategy_idx on runs (strategy_id);
create index runs_status_idx on runs (status);

create table orders (
    id                 integer primary key autoincrement,
    client_order_id    text not null unique,
    exchange_order_id  text unique,
    run_id             integer references runs (id),
    symbol             text not null,
    side               text not null check (side in ('buy', 'sell')),
    order_type         text not null check (order_type in ('market', 'limit', 'stop', 'stop_limit')),
    time_in_force      text not null check (time_in_force in ('day', 'gtc', 'ioc', 'fok')),
    quantity           text,
    notional           text,
    limit_price        text,
    stop_price         text,
    status             text not null,
    filled_quantity    text not null default '0',
    average_price      text,
    submitted_at       text,
    filled_at          text,
    canceled_at        text,
    created_at         text not null,
    updated_at         text not null,
    check ((quantity is null) <> (notional is null))
);
create index orders_run_idx on orders (run_id, id);
create index orders_symbol_idx on orders (symbol, id);
create index orders_status_idx on orders (status, id);
create index orders_created_idx on orders (created_at, id);

create table fills (
    id             integer primary key autoincrement,
    order_id       integer not null references orders (id),
    venue_fill_id  text not null unique,
    quantity       text not null,
    price          text not null,
    fee            text not null default '0',
    filled_at      text not null,
    created_at     text not null,
    updated_at     text not null
);
create index fills_order_idx on fills (order_id, id);

create table candles (
    id          integer primary key autoincrement,
    symbol      text not null,
    timeframe   text not null,
    ts          text not null,
    open        real not null,
    high        real not null,
    low         real not null,
    close       real not null,
    volume      real not null,
    source      text not null,
    created_at  text not null,
    updated_at  text not null,
    unique (symbol, timeframe, ts)
);

create table backtests (
    id           integer primary key autoincrement,
    strategy_id  integer references strategies (id),
    run_id       integer references runs (id),
    config       text not null,
    status       text not null check (status in ('queued', 'running', 'done', 'failed', 'cancelled')),
    metrics      text,
    trades       text,
    equity       text,
    error        text,
    created_at   text not null,
    updated_at   text not null
);
create index backtests_created_idx on backtests (created_at, id);

create table strategy_results (
    id              integer primary key autoincrement,
    run_id          integer not null references runs (id),
    cause_event_id  blob not null,
    intents         text not null,
    created_at      text not null,
    updated_at      text not null
);
create index strategy_results_run_idx on strategy_results (run_id, id);

-- The outbox. SQLite has one writer at a time, so ids commit in order; AUTOINCREMENT keeps an id
-- from ever being reused after retention deletes the newest rows (notes/reliability.md §1.2).
create table outbox (
    id              integer primary key autoincrement,
    event_id        blob not null unique,
    kind            text not null check (kind in ('evt', 'cmd')),
    event_type      text not null,
    version         integer not null,
    run_id          text,
    corr_id         text not null,
    causation_id    text,
    trace_id        text,
    ts              text not null,
    producer        text not null,
    headers         text not null,
    payload         text not null,
    created_at      text not null,
    updated_at      text not null
);
create index outbox_created_idx on outbox (created_at);

create table consumer_offsets (
    id          integer primary key autoincrement,
    consumer    text not null unique,
    last_xid    integer not null default 0,
    last_id     integer not null default 0,
    created_at  text not null,
    updated_at  text not null
);
