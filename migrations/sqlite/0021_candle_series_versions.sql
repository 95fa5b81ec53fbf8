-- A token per candle series (symbol, timeframe) that every write to the series replaces (WallE's
-- candle writes set it in the same transaction: imports, downloads, live bars, deletes). A
-- process that keeps a copy of a series' bars on disk (greta/bar_cache.rs) keys it by the token
-- it read before the bars: a copy is only used while the series still has that token. Random, not
-- a counter, so a cache directory pointed at another database (or a restored one) cannot mistake
-- one series state for another.
create table candle_series_versions (
    symbol     text not null,
    timeframe  text not null,
    version    bigint not null,
    primary key (symbol, timeframe)
);
insert into candle_series_versions (symbol, timeframe, version)
select symbol, timeframe, random()
from (select distinct symbol, timeframe from candles) s;
