//! OHLCV CSV loading: the format of `testdata/README.md` (`timestamp,open,high,low,close,volume`,
//! ISO-8601 times) plus the common variants — `Date/Open/High/Low/Close/Volume` headers in any
//! case and order, extra columns (ignored), quoted fields, CRLF, a UTF-8 BOM, and unix seconds,
//! milliseconds, microseconds or nanoseconds instead of ISO times.
//!
//! Parsing is the first cost of every backtest, so it works on the raw bytes: no per-line
//! allocation, floats through `fast-float2`, a fixed-position ISO-8601 fast path, and large files
//! split at line boundaries and parsed on all cores.
//!
//! # Invariants
//! - A loaded [`Series`] is non-empty, strictly ascending in time, with finite prices and
//!   `low <= high`.
//! - Every error names the 1-based line of the file it comes from.

use std::path::Path;

use rayon::prelude::*;

use super::Error;
use crate::domain::{Bar, SymbolBar, TsMillis};

/// Bars of one symbol, oldest first.
#[derive(Debug, Clone)]
pub struct Series {
    /// Symbol name.
    pub symbol: String,
    /// Where the bars came from.
    pub path: String,
    /// The bars, strictly ascending by time. They are stored as [`SymbolBar`]s (symbol index 0
    /// until a [`super::Backtest`] assigns the run's index) so a one-symbol run uses this vector
    /// as its timeline without copying.
    pub bars: Vec<SymbolBar>,
}

/// Files smaller than this are parsed on one thread (splitting costs more than it saves).
const PARALLEL_MIN_BYTES: usize = 1 << 20;

/// Column positions found in the header.
#[derive(Debug, Clone, Copy)]
struct Columns {
    ts: usize,
    open: usize,
    high: usize,
    low: usize,
    close: usize,
    volume: Option<usize>,
    /// Highest index needed, so a row with fewer fields is refused.
    needed: usize,
    /// Exactly `timestamp,open,high,low,close,volume`: rows take the fast path.
    canonical: bool,
}

/// The first malformed line of a CSV text: its 1-based number and what is wrong with it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BadLine {
    /// 1-based line number.
    pub line: usize,
    /// What is wrong.
    pub message: String,
}

impl BadLine {
    fn new(line: usize, message: impl Into<String>) -> BadLine {
        BadLine {
            line,
            message: message.into(),
        }
    }
}

/// A parse failure inside one chunk: byte offset of the line start, and the message.
struct ChunkError {
    line_start: usize,
    message: String,
}

/// Loads a CSV file; the symbol defaults to the file stem.
///
/// The file is streamed through a fixed block buffer (each block's lines parsed on all cores),
/// so a large file costs one pass and no file-sized allocation besides the bars themselves.
///
/// # Errors
/// [`Error::Io`] if the file cannot be read, [`Error::Csv`] (naming the line) if it is malformed.
pub fn load(path: &Path, symbol: Option<&str>) -> Result<Series, Error> {
    use std::io::Read;
    let display = path.display().to_string();
    let io = |source| Error::Io {
        path: display.clone(),
        source,
    };
    let csv = |e: BadLine| Error::Csv {
        path: display.clone(),
        line: e.line,
        message: e.message,
    };
    let mut file = std::fs::File::open(path).map_err(io)?;
    let size = file.metadata().map(|m| m.len() as usize).unwrap_or(0);
    let mut buf = vec![0u8; BLOCK_BYTES.min(size + 1).max(4096)];
    let mut filled = 0;
    let mut sink: Option<Sink> = None;
    loop {
        // Fill the buffer (or reach the end of the file).
        let mut eof = false;
        while filled < buf.len() {
            let n = file.read(&mut buf[filled..]).map_err(io)?;
            if n == 0 {
                eof = true;
                break;
            }
            filled += n;
        }
        let mut start = 0;
        if sink.is_none() {
            let Some(nl) = memchr_nl(&buf[..filled], 0).or(eof.then_some(filled)) else {
                if filled == buf.len() {
                    buf.resize(buf.len() * 2, 0);
                    continue;
                }
                return Err(csv(BadLine::new(1, "empty file")));
            };
            let text = &buf[..nl];
            let text = text.strip_prefix(b"\xEF\xBB\xBF").unwrap_or(text);
            let cols = parse_header(trim_cr(text)).map_err(|m| csv(BadLine::new(1, m)))?;
            // Rows: about 57 bytes each in the reference format; reserving is virtual memory.
            sink = Some(Sink {
                cols,
                out: Vec::with_capacity(size / 40 + 16),
                line_base: 2,
            });
            start = (nl + 1).min(filled);
        }
        let Some(sink) = sink.as_mut() else { continue };
        let end = if eof {
            filled
        } else {
            match buf[start..filled].iter().rposition(|&b| b == b'\n') {
                Some(p) => start + p + 1,
                None if start == 0 => {
                    // One line longer than the buffer: grow it.
                    buf.resize(buf.len() * 2, 0);
                    continue;
                }
                None => start,
            }
        };
        sink.feed(&buf[start..end]).map_err(csv)?;
        buf.copy_within(end..filled, 0);
        filled -= end;
        if eof {
            break;
        }
    }
    let bars = match sink {
        Some(s) => s.finish().map_err(csv)?,
        None => return Err(csv(BadLine::new(1, "empty file"))),
    };
    let symbol = symbol.map(str::to_owned).unwrap_or_else(|| {
        path.file_stem()
            .map(|s| s.to_string_lossy().into_owned())
            .unwrap_or_else(|| "DATA".to_owned())
    });
    Ok(Series {
        symbol,
        path: display,
        bars,
    })
}

/// The column a row error from [`parse`] or [`load`] is about, when it is about one: every
/// field error message starts with its column's name (`close "x" is not a finite number`,
/// `low 3 is above high 2`, `timestamp … is before …`, `duplicate timestamp …`).
pub fn error_column(message: &str) -> Option<&'static str> {
    const COLUMNS: [&str; 6] = ["timestamp", "open", "high", "low", "close", "volume"];
    let first = message.split_whitespace().next()?;
    let first = if first == "duplicate" {
        message.split_whitespace().nth(1)?
    } else {
        first
    };
    COLUMNS.into_iter().find(|c| *c == first)
}

/// Streaming block size.
const BLOCK_BYTES: usize = 4 << 20;

/// Parses CSV bytes into bars. Errors are `(1-based line, message)`.
///
/// # Errors
/// The first malformed line, or a missing header / empty file.
pub fn parse(bytes: &[u8]) -> Result<Vec<SymbolBar>, BadLine> {
    let bytes = bytes.strip_prefix(b"\xEF\xBB\xBF").unwrap_or(bytes);
    let header_end = memchr_nl(bytes, 0).unwrap_or(bytes.len());
    let cols = parse_header(trim_cr(&bytes[..header_end])).map_err(|m| BadLine::new(1, m))?;
    let body_start = (header_end + 1).min(bytes.len());
    let mut sink = Sink {
        cols,
        out: Vec::with_capacity(bytes.len() / 40 + 16),
        line_base: 2,
    };
    sink.feed(&bytes[body_start..])?;
    sink.finish()
}

/// Accumulates parsed rows across blocks of whole lines.
struct Sink {
    cols: Columns,
    out: Vec<SymbolBar>,
    /// 1-based file line number of the next block's first line.
    line_base: usize,
}

impl Sink {
    /// Parses a region of whole lines (split across cores when large) and appends its rows.
    fn feed(&mut self, region: &[u8]) -> Result<(), BadLine> {
        let chunks = split_chunks(region, 0);
        let cols = self.cols;
        let results: Vec<Result<(Vec<SymbolBar>, usize), ChunkError>> = if chunks.len() > 1 {
            chunks
                .par_iter()
                .map(|&(s, e)| parse_rows(region, s, e, cols))
                .collect()
        } else {
            chunks
                .iter()
                .map(|&(s, e)| parse_rows(region, s, e, cols))
                .collect()
        };
        let base = self.line_base;
        let line_of =
            |offset: usize| base + region[..offset].iter().filter(|&&b| b == b'\n').count();
        for (result, &(start, _)) in results.into_iter().zip(&chunks) {
            let (rows, lines) =
                result.map_err(|e| BadLine::new(line_of(e.line_start), e.message))?;
            if let (Some(prev), Some(first)) =
                (self.out.last().map(|b| b.bar), rows.first().map(|b| b.bar))
                && first.ts <= prev.ts
            {
                // The first data line of this chunk is out of order with what came before.
                let mut at = start;
                while at < region.len() && trim_cr(line_at(region, at)).is_empty() {
                    at = memchr_nl(region, at).map_or(region.len(), |p| p + 1);
                }
                return Err(BadLine::new(line_of(at), order_message(first.ts, prev.ts)));
            }
            self.out.extend_from_slice(&rows);
            self.line_base += lines;
        }
        Ok(())
    }

    fn finish(self) -> Result<Vec<SymbolBar>, BadLine> {
        if self.out.is_empty() {
            return Err(BadLine::new(1, "no data rows after the header"));
        }
        Ok(self.out)
    }
}

fn order_message(ts: TsMillis, prev: TsMillis) -> String {
    if ts == prev {
        format!("duplicate timestamp {}", fmt_ts(ts))
    } else {
        format!(
            "timestamp {} is before the previous row's {} (rows must be ascending)",
            fmt_ts(ts),
            fmt_ts(prev)
        )
    }
}

fn fmt_ts(ts: TsMillis) -> String {
    chrono::DateTime::from_timestamp_millis(ts)
        .map(|t| t.format("%Y-%m-%dT%H:%M:%S%.3fZ").to_string())
        .unwrap_or_else(|| ts.to_string())
}

fn line_at(bytes: &[u8], at: usize) -> &[u8] {
    let end = memchr_nl(bytes, at).unwrap_or(bytes.len());
    &bytes[at..end]
}

fn memchr_nl(bytes: &[u8], from: usize) -> Option<usize> {
    memchr::memchr(b'\n', &bytes[from..]).map(|p| p + from)
}

fn trim_cr(line: &[u8]) -> &[u8] {
    line.strip_suffix(b"\r").unwrap_or(line)
}

/// Splits `bytes[start..]` into line-aligned chunks, one per core for large inputs.
fn split_chunks(bytes: &[u8], start: usize) -> Vec<(usize, usize)> {
    let len = bytes.len() - start;
    let parts = if len < PARALLEL_MIN_BYTES {
        1
    } else {
        rayon::current_num_threads().clamp(1, 16) * 2
    };
    let mut chunks = Vec::with_capacity(parts);
    let mut s = start;
    for k in 1..=parts {
        let target = if k == parts {
            bytes.len()
        } else {
            (start + len * k / parts).max(s)
        };
        let e = if target >= bytes.len() {
            bytes.len()
        } else {
            memchr_nl(bytes, target).map_or(bytes.len(), |p| p + 1)
        };
        if e > s {
            chunks.push((s, e));
        }
        s = e;
        if s >= bytes.len() {
            break;
        }
    }
    if chunks.is_empty() {
        chunks.push((start, start));
    }
    chunks
}

fn unquote(field: &[u8]) -> &[u8] {
    let f = field.trim_ascii();
    if f.len() >= 2 && f[0] == b'"' && f[f.len() - 1] == b'"' {
        &f[1..f.len() - 1]
    } else {
        f
    }
}

fn parse_header(line: &[u8]) -> Result<Columns, String> {
    let text = String::from_utf8_lossy(line);
    let names: Vec<String> = text
        .split(',')
        .map(|f| String::from_utf8_lossy(unquote(f.as_bytes())).to_ascii_lowercase())
        .collect();
    let find = |candidates: &[&str]| names.iter().position(|n| candidates.contains(&n.as_str()));
    let missing = |what: &str| {
        format!(
            "header {text:?} has no {what} column (expected e.g. timestamp,open,high,low,close,volume or \
             Date,Open,High,Low,Close,Volume)"
        )
    };
    let ts = find(&[
        "timestamp",
        "time",
        "date",
        "datetime",
        "ts",
        "open time",
        "open_time",
        "date_time",
        "unix",
    ])
    .ok_or_else(|| missing("timestamp/date"))?;
    let open = find(&["open", "o"]).ok_or_else(|| missing("open"))?;
    let high = find(&["high", "h"]).ok_or_else(|| missing("high"))?;
    let low = find(&["low", "l"]).ok_or_else(|| missing("low"))?;
    let close = find(&["close", "c", "adj close", "adj_close"]).ok_or_else(|| missing("close"))?;
    let volume = find(&["volume", "vol", "v"]);
    let needed = [ts, open, high, low, close, volume.unwrap_or(0)]
        .into_iter()
        .max()
        .unwrap_or(0);
    let canonical =
        names.len() == 6 && (ts, open, high, low, close, volume) == (0, 1, 2, 3, 4, Some(5));
    Ok(Columns {
        ts,
        open,
        high,
        low,
        close,
        volume,
        needed,
        canonical,
    })
}

/// The fast path for a plain row of the canonical layout: no quotes, no spaces, every value
/// well-formed and the row in order after `prev_ts`. Anything else returns `None` and goes
/// through the general path, which also produces the error message.
fn fast_row(line: &[u8], prev_ts: TsMillis) -> Option<Bar> {
    let c0 = memchr::memchr(b',', line)?;
    let ts = parse_ts(&line[..c0]).ok()?;
    let mut p = c0 + 1;
    let mut v = [0.0f64; 5];
    for (k, slot) in v.iter_mut().enumerate() {
        let (x, used) = fast_float2::parse_partial::<f64, _>(&line[p..]).ok()?;
        p += used;
        if used == 0 || !x.is_finite() {
            return None;
        }
        *slot = x;
        if k < 4 {
            if line.get(p) != Some(&b',') {
                return None;
            }
            p += 1;
        }
    }
    let [open, high, low, close, volume] = v;
    (p == line.len() && low <= high && ts > prev_ts).then_some(Bar {
        ts,
        open,
        high,
        low,
        close,
        volume,
    })
}

/// Parses the rows in `bytes[start..end]` (whole lines); returns them and the number of lines.
fn parse_rows(
    bytes: &[u8],
    start: usize,
    end: usize,
    cols: Columns,
) -> Result<(Vec<SymbolBar>, usize), ChunkError> {
    // ~57 bytes per line in the reference format: a good first guess avoids most regrowth.
    let mut out = Vec::with_capacity((end - start) / 40 + 1);
    let mut pos = start;
    let mut prev_ts = TsMillis::MIN;
    let mut fields: [&[u8]; 32] = [&[]; 32];
    let mut lines = 0;
    while pos < end {
        let line_end = memchr_nl(&bytes[..end], pos).unwrap_or(end);
        let line = trim_cr(&bytes[pos..line_end]);
        let line_start = pos;
        pos = line_end + 1;
        lines += 1;
        if line.is_empty() {
            continue;
        }
        if cols.canonical
            && let Some(bar) = fast_row(line, prev_ts)
        {
            prev_ts = bar.ts;
            out.push(SymbolBar { symbol: 0, bar });
            continue;
        }
        let err = |message: String| ChunkError {
            line_start,
            message,
        };
        let mut n = 0;
        let mut field_start = 0;
        for comma in memchr::memchr_iter(b',', line).chain(std::iter::once(line.len())) {
            if n < fields.len() {
                fields[n] = &line[field_start..comma];
            }
            field_start = comma + 1;
            n += 1;
        }
        if n <= cols.needed {
            return Err(err(format!(
                "expected at least {} fields, found {n}",
                cols.needed + 1
            )));
        }
        let ts = parse_ts(unquote(fields[cols.ts])).map_err(err)?;
        let num = |i: usize, what: &str| -> Result<f64, ChunkError> {
            let f = unquote(fields[i]);
            match fast_float2::parse::<f64, _>(f) {
                Ok(v) if v.is_finite() => Ok(v),
                _ => Err(err(format!(
                    "{what} {:?} is not a finite number",
                    String::from_utf8_lossy(f)
                ))),
            }
        };
        let open = num(cols.open, "open")?;
        let high = num(cols.high, "high")?;
        let low = num(cols.low, "low")?;
        let close = num(cols.close, "close")?;
        let volume = match cols.volume {
            Some(i) if !unquote(fields[i]).is_empty() => num(i, "volume")?,
            _ => 0.0,
        };
        if low > high {
            return Err(err(format!("low {low} is above high {high}")));
        }
        if ts <= prev_ts {
            return Err(err(order_message(ts, prev_ts)));
        }
        prev_ts = ts;
        out.push(SymbolBar {
            symbol: 0,
            bar: Bar {
                ts,
                open,
                high,
                low,
                close,
                volume,
            },
        });
    }
    Ok((out, lines))
}

/// Parses a timestamp: ISO-8601 (`2020-01-01`, `2020-01-01T00:00:00Z`, `2020-01-01 09:30:00.5`,
/// `…+02:00`; no zone means UTC) or a unix epoch number in seconds, milliseconds, microseconds or
/// nanoseconds (told apart by magnitude).
///
/// # Errors
/// A message saying what was expected.
pub fn parse_ts(f: &[u8]) -> Result<TsMillis, String> {
    let bad = || {
        format!(
            "timestamp {:?} is neither ISO-8601 nor unix seconds/milliseconds",
            String::from_utf8_lossy(f)
        )
    };
    if f.is_empty() {
        return Err(bad());
    }
    if f.iter().all(u8::is_ascii_digit)
        || (f[0] == b'-' && f.len() > 1 && f[1..].iter().all(u8::is_ascii_digit))
    {
        let v: i64 = std::str::from_utf8(f)
            .ok()
            .and_then(|s| s.parse().ok())
            .ok_or_else(bad)?;
        let a = v.unsigned_abs();
        return Ok(if a < 100_000_000_000 {
            v * 1000
        } else if a < 100_000_000_000_000 {
            v
        } else if a < 100_000_000_000_000_000 {
            v / 1000
        } else {
            v / 1_000_000
        });
    }
    parse_iso(f).ok_or_else(bad)
}

fn digits(f: &[u8], at: usize, n: usize) -> Option<i64> {
    let s = f.get(at..at + n)?;
    let mut v = 0i64;
    for &b in s {
        if !b.is_ascii_digit() {
            return None;
        }
        v = v * 10 + i64::from(b - b'0');
    }
    Some(v)
}

fn parse_iso(f: &[u8]) -> Option<TsMillis> {
    let year = digits(f, 0, 4)?;
    let sep = *f.get(4)?;
    if sep != b'-' && sep != b'/' {
        return None;
    }
    let month = digits(f, 5, 2)?;
    if *f.get(7)? != sep {
        return None;
    }
    let day = digits(f, 8, 2)?;
    if !(1..=12).contains(&month) || day < 1 || day > days_in_month(year, month) {
        return None;
    }
    let mut ms = days_from_civil(year, month, day) * 86_400_000;
    let mut i = 10;
    if i < f.len() && (f[i] == b'T' || f[i] == b' ') {
        let h = digits(f, i + 1, 2)?;
        if *f.get(i + 3)? != b':' {
            return None;
        }
        let m = digits(f, i + 4, 2)?;
        i += 6;
        let mut s = 0;
        if f.get(i) == Some(&b':') {
            s = digits(f, i + 1, 2)?;
            i += 3;
        }
        if h > 23 || m > 59 || s > 60 {
            return None;
        }
        ms += (h * 3600 + m * 60 + s) * 1000;
        if f.get(i) == Some(&b'.') || f.get(i) == Some(&b',') {
            i += 1;
            let mut scale = 100;
            let start = i;
            while i < f.len() && f[i].is_ascii_digit() {
                if scale > 0 {
                    ms += i64::from(f[i] - b'0') * scale;
                    scale /= 10;
                }
                i += 1;
            }
            if i == start {
                return None;
            }
        }
    }
    match f.get(i) {
        None => Some(ms),
        Some(b'Z' | b'z') if i + 1 == f.len() => Some(ms),
        Some(&sign @ (b'+' | b'-')) => {
            let oh = digits(f, i + 1, 2)?;
            let om = match f.get(i + 3) {
                Some(b':') => digits(f, i + 4, 2)?,
                Some(_) => digits(f, i + 3, 2)?,
                None => 0,
            };
            let end = match f.get(i + 3) {
                Some(b':') => i + 6,
                Some(_) => i + 5,
                None => i + 3,
            };
            if end != f.len() {
                return None;
            }
            let off = (oh * 60 + om) * 60_000;
            Some(if sign == b'+' { ms - off } else { ms + off })
        }
        _ => None,
    }
}

fn is_leap(y: i64) -> bool {
    (y % 4 == 0 && y % 100 != 0) || y % 400 == 0
}

fn days_in_month(y: i64, m: i64) -> i64 {
    match m {
        2 if is_leap(y) => 29,
        2 => 28,
        4 | 6 | 9 | 11 => 30,
        _ => 31,
    }
}

/// Days since 1970-01-01 of a proleptic Gregorian date (Howard Hinnant's algorithm).
pub(crate) fn days_from_civil(y: i64, m: i64, d: i64) -> i64 {
    let y = if m <= 2 { y - 1 } else { y };
    let era = if y >= 0 { y } else { y - 399 } / 400;
    let yoe = y - era * 400;
    let mp = (m + 9) % 12;
    let doy = (153 * mp + 2) / 5 + d - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn row_errors_name_their_line_and_column() {
        let head = "timestamp,open,high,low,close,volume\n2020-01-01T00:00:00Z,1,2,0.5,1.5,10\n";
        let cases = [
            ("2020-01-02T00:00:00Z,1,2,0.5,x,10", Some("close")),
            ("2020-01-02T00:00:00Z,1,2,3,1.5,10", Some("low")),
            ("2020-01-02T00:00:00Z,1,2,0.5,1.5,v", Some("volume")),
            ("yesterday,1,2,0.5,1.5,10", Some("timestamp")),
            ("2020-01-01T00:00:00Z,1,2,0.5,1.5,10", Some("timestamp")),
            ("2019-01-01T00:00:00Z,1,2,0.5,1.5,10", Some("timestamp")),
            ("2020-01-02T00:00:00Z,1,2", None),
        ];
        for (row, column) in cases {
            let BadLine { line, message } = parse(format!("{head}{row}\n").as_bytes()).unwrap_err();
            assert_eq!(line, 3, "{row}: {message}");
            assert_eq!(error_column(&message), column, "{row}: {message}");
        }
        let BadLine { line, message } = parse(b"when,open\n1,2\n").unwrap_err();
        assert_eq!((line, error_column(&message)), (1, None), "{message}");
    }

    #[test]
    fn parses_reference_format_and_variants() {
        let a = parse(b"timestamp,open,high,low,close,volume\n2004-08-19T00:00:00Z,100,104.06,95.96,100.34,22351900\n")
            .unwrap();
        assert_eq!(a[0].bar.ts, 1_092_873_600_000);
        assert_eq!(a[0].bar.close, 100.34);
        let b = parse(b"\xEF\xBB\xBFDate,Open,High,Low,Close,Adj Close,Volume\r\n2004-08-19,100,104.06,95.96,100.34,1,22351900\r\n")
            .unwrap();
        assert_eq!(b[0].bar.ts, a[0].bar.ts);
        assert_eq!(b[0].bar.volume, 22_351_900.0);
        let c =
            parse(b"time,o,h,l,c\n1092873600,1,2,0.5,1.5\n1092873660000,1,2,0.5,1.5\n").unwrap();
        assert_eq!(c[0].bar.ts, 1_092_873_600_000);
        assert_eq!(c[1].bar.ts, 1_092_873_660_000);
        assert_eq!(
            parse_ts(b"2020-01-01T01:00:00+01:00").unwrap(),
            parse_ts(b"2020-01-01T00:00:00Z").unwrap()
        );
        assert_eq!(parse_ts(b"2020-01-01 00:00:00.250").unwrap() % 1000, 250);
    }

    #[test]
    fn streamed_load_matches_in_memory_parse_and_counts_lines_across_blocks() {
        let bars = crate::greta::synth::generate(200_000, 3);
        let mut text = Vec::new();
        crate::greta::synth::write_csv(&bars, &mut text).unwrap();
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("s.csv");
        std::fs::write(&path, &text).unwrap();
        let loaded = load(&path, None).unwrap();
        assert_eq!(loaded.bars, parse(&text).unwrap());
        assert_eq!(loaded.bars.len(), 200_000);
        assert_eq!(loaded.symbol, "s");
        // Break a row far beyond the first block: the error names its line.
        let mut broken = text.clone();
        let line = 150_000; // 1-based file line (the header is line 1)
        let at = broken
            .iter()
            .enumerate()
            .filter(|(_, b)| **b == b'\n')
            .nth(line - 2)
            .unwrap()
            .0
            + 1;
        broken[at + 21] = b'x';
        std::fs::write(&path, &broken).unwrap();
        match load(&path, None) {
            Err(crate::greta::Error::Csv { line: l, .. }) => assert_eq!(l, line),
            other => panic!("expected a CSV error, got {other:?}"),
        }
    }

    #[test]
    fn errors_name_the_line() {
        let e = parse(b"timestamp,open,high,low,close\n2020-01-01,1,2,0,1\n\n2020-01-02,1,x,0,1\n")
            .unwrap_err();
        assert_eq!(e.line, 4, "{}", e.message);
        assert!(e.message.contains("high"), "{}", e.message);
        let e = parse(b"timestamp,open,high,low,close\n2020-01-02,1,2,0,1\n2020-01-01,1,2,0,1\n")
            .unwrap_err();
        assert_eq!(e.line, 3);
        let e = parse(b"when,open,high,low,close\n").unwrap_err();
        assert_eq!(e.line, 1);
        let e = parse(b"date,open,high,low,close\n2020-02-30,1,2,0,1\n").unwrap_err();
        assert_eq!(e.line, 2);
    }
}
