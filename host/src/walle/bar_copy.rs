//! PostgreSQL: a backtest's bars read with `COPY … TO STDOUT (FORMAT binary)` instead of a
//! query's rows. A million bars arrive as rows in 1.1–1.5 s, most of it sqlx decoding each
//! row into a row object; the same rows as binary COPY data are six fixed-size fields each,
//! parsed here straight into [`Bar`]s (docs/adr/0024-binary-copy-bars.md says why this is
//! hand-written).
//!
//! # Invariants
//! - The same bars, in the same order, as the query [`super::Walle::bars`] runs on SQLite:
//!   `from <= ts < to`, oldest first, at most `limit`.
//! - No value is spliced into the statement: `COPY` takes no bind parameters, so the symbol,
//!   timeframe, window and limit travel as bound parameters of `set_config` in the same
//!   transaction and the statement reads them back with `current_setting`.
//! - A stream that is not six non-null 8-byte fields per row is an error, never a guess.

use bytes::Buf;
use chrono::{DateTime, SecondsFormat, Utc};
use futures::TryStreamExt;
use sqlx::PgPool;

use crate::domain::Bar;

use super::Result;

/// The statement; its inputs are the transaction-local settings `set_config` put there.
const COPY_BARS: &str = "copy (select ts, open, high, low, close, volume from candles \
     where symbol = current_setting('weaver.bars_symbol') \
     and timeframe = current_setting('weaver.bars_timeframe') \
     and ts >= current_setting('weaver.bars_from')::timestamptz \
     and ts < current_setting('weaver.bars_to')::timestamptz \
     order by ts limit current_setting('weaver.bars_limit')::bigint) \
     to stdout (format binary)";

/// Binary COPY's file header: signature, flags, header extension length.
const SIGNATURE: &[u8] = b"PGCOPY\n\xff\r\n\0";
const HEADER_LEN: usize = SIGNATURE.len() + 4 + 4;

/// One row: a field count, then six fields of a length and eight bytes.
const FIELDS: i16 = 6;
const ROW_LEN: usize = 2 + FIELDS as usize * (4 + 8);

/// Milliseconds from the Unix epoch to PostgreSQL's (2000-01-01 UTC).
const PG_EPOCH_MS: i64 = 946_684_800_000;

/// The bars of `symbol`/`timeframe` with `from <= ts < to`, oldest first, at most `limit`.
pub(super) async fn bars(
    pool: &PgPool,
    symbol: &str,
    timeframe: &str,
    from: DateTime<Utc>,
    to: DateTime<Utc>,
    limit: i64,
) -> Result<Vec<Bar>> {
    let mut tx = pool.begin().await?;
    sqlx::query(
        "select set_config('weaver.bars_symbol', $1, true), \
         set_config('weaver.bars_timeframe', $2, true), \
         set_config('weaver.bars_from', $3, true), \
         set_config('weaver.bars_to', $4, true), \
         set_config('weaver.bars_limit', $5, true)",
    )
    .bind(symbol)
    .bind(timeframe)
    .bind(from.to_rfc3339_opts(SecondsFormat::Micros, true))
    .bind(to.to_rfc3339_opts(SecondsFormat::Micros, true))
    .bind(limit.max(0).to_string())
    .execute(&mut *tx)
    .await?;
    let mut parser = Parser::default();
    {
        let mut stream = tx.copy_out_raw(COPY_BARS).await?;
        while let Some(chunk) = stream.try_next().await? {
            parser.feed(&chunk)?;
        }
    }
    tx.commit().await?;
    Ok(parser.finish()?)
}

/// Parses binary COPY data as it arrives, in chunks cut anywhere (PostgreSQL sends one row a
/// message, but nothing promises it).
#[derive(Default)]
struct Parser {
    /// Bytes of an incomplete header or row carried to the next chunk.
    carry: Vec<u8>,
    header_seen: bool,
    trailer_seen: bool,
    bars: Vec<Bar>,
}

impl Parser {
    fn feed(&mut self, chunk: &[u8]) -> std::result::Result<(), sqlx::Error> {
        if self.carry.is_empty() {
            let used = self.parse(chunk)?;
            self.carry.extend_from_slice(&chunk[used..]);
        } else {
            self.carry.extend_from_slice(chunk);
            let carry = std::mem::take(&mut self.carry);
            let used = self.parse(&carry)?;
            self.carry = carry[used..].to_vec();
        }
        Ok(())
    }

    /// Parses whole items from `data`; returns how many bytes it used.
    fn parse(&mut self, data: &[u8]) -> std::result::Result<usize, sqlx::Error> {
        let mut at = 0;
        if !self.header_seen {
            if data.len() < HEADER_LEN {
                return Ok(0);
            }
            if &data[..SIGNATURE.len()] != SIGNATURE {
                return Err(bad("not binary COPY data"));
            }
            let mut rest = &data[SIGNATURE.len()..];
            let _flags = rest.get_i32();
            let extension = usize::try_from(rest.get_i32()).map_err(|_| bad("header"))?;
            if data.len() < HEADER_LEN + extension {
                return Ok(0);
            }
            at = HEADER_LEN + extension;
            self.header_seen = true;
        }
        while data.len() - at >= 2 {
            if self.trailer_seen {
                return Err(bad("data after the trailer"));
            }
            let mut row = &data[at..];
            let fields = row.get_i16();
            if fields == -1 {
                self.trailer_seen = true;
                at += 2;
                continue;
            }
            if fields != FIELDS {
                return Err(bad("a row of other than six fields"));
            }
            if data.len() - at < ROW_LEN {
                break;
            }
            let mut field = || {
                if row.get_i32() == 8 {
                    Ok(row.get_u64())
                } else {
                    Err(bad("a field of other than eight bytes"))
                }
            };
            let micros = field()?.cast_signed();
            let [open, high, low, close, volume] = [(); 5].map(|()| field().map(f64::from_bits));
            self.bars.push(Bar {
                ts: micros.div_euclid(1_000) + PG_EPOCH_MS,
                open: open?,
                high: high?,
                low: low?,
                close: close?,
                volume: volume?,
            });
            at += ROW_LEN;
        }
        Ok(at)
    }

    fn finish(self) -> std::result::Result<Vec<Bar>, sqlx::Error> {
        if !self.trailer_seen || !self.carry.is_empty() {
            return Err(bad("the data ended early"));
        }
        Ok(self.bars)
    }
}

fn bad(what: &str) -> sqlx::Error {
    sqlx::Error::Protocol(format!("binary COPY of bars: {what}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn row(micros: i64, prices: [f64; 5]) -> Vec<u8> {
        let mut out = FIELDS.to_be_bytes().to_vec();
        out.extend(8i32.to_be_bytes());
        out.extend(micros.to_be_bytes());
        for p in prices {
            out.extend(8i32.to_be_bytes());
            out.extend(p.to_bits().to_be_bytes());
        }
        out
    }

    fn stream(rows: &[Vec<u8>]) -> Vec<u8> {
        let mut out = SIGNATURE.to_vec();
        out.extend(0i32.to_be_bytes());
        out.extend(4i32.to_be_bytes());
        out.extend(b"ext!");
        for r in rows {
            out.extend(r);
        }
        out.extend((-1i16).to_be_bytes());
        out
    }

    #[test]
    fn rows_cut_anywhere_parse_to_the_same_bars() {
        // 1999-12-31T23:59:59.9995Z: before PostgreSQL's epoch, so the division must floor.
        let data = stream(&[
            row(-500, [1.0, 2.0, 0.5, 1.5, 10.0]),
            row(86_400_000_000, [1.5, 2.5, 1.0, 2.0, 20.0]),
        ]);
        let whole = {
            let mut p = Parser::default();
            p.feed(&data).unwrap();
            p.finish().unwrap()
        };
        assert_eq!(whole.len(), 2);
        assert_eq!(whole[0].ts, PG_EPOCH_MS - 1);
        assert_eq!(whole[1].ts, PG_EPOCH_MS + 86_400_000);
        assert_eq!(
            (whole[1].open, whole[1].close, whole[1].volume),
            (1.5, 2.0, 20.0)
        );
        for size in [1, 2, 3, 7, 19, 50, 61] {
            let mut p = Parser::default();
            for chunk in data.chunks(size) {
                p.feed(chunk).unwrap();
            }
            assert_eq!(p.finish().unwrap(), whole, "chunks of {size} bytes");
        }
    }

    #[test]
    fn what_is_not_six_eight_byte_fields_is_refused() {
        let mut short = row(0, [1.0; 5]);
        short[2..6].copy_from_slice(&4i32.to_be_bytes());
        let mut null = row(0, [1.0; 5]);
        null[2..6].copy_from_slice(&(-1i32).to_be_bytes());
        let mut five = row(0, [1.0; 5]);
        five[..2].copy_from_slice(&5i16.to_be_bytes());
        for bad_row in [short, null, five] {
            let mut p = Parser::default();
            let err = p.feed(&stream(&[bad_row])).unwrap_err();
            assert!(err.to_string().contains("binary COPY of bars"), "{err}");
        }
        let mut p = Parser::default();
        assert!(p.feed(b"PGCOPX\n\xff\r\n\0\0\0\0\0\0\0\0\0").is_err());
        let mut cut = Parser::default();
        let data = stream(&[row(0, [1.0; 5])]);
        cut.feed(&data[..data.len() - 2]).unwrap();
        assert!(cut.finish().is_err(), "no trailer");
    }
}
