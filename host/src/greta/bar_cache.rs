//! The bar cache: a copy on local disk of the bars a backtest job loaded, so the next job over
//! the same series and window (the next sweep of a research session, every walk-forward window's
//! optimisation, a `weaver worker` on another machine) reads a file instead of a million rows.
//! Files live under the data directory (`cache/bars/`), bounded by `WEAVER_BAR_CACHE_MB`
//! (default [`DEFAULT_MB`]; `0` turns the cache off), the least recently used removed first.
//!
//! A copy is keyed by its window (symbol, timeframe, start, end, limit) and labelled with the
//! series' version token ([`Walle::candle_series_version`]) read *before* its bars: a write to
//! the series replaces the token in the write's own transaction, so a copy made before a write
//! is labelled with a token the series no longer has, and one made during it holds bars at least
//! as new as its label says. Either way it is never used once the series changed.
//!
//! # Invariants
//! - A hit returns exactly the bars the store would: same window, same series version, checked
//!   against the file's own header (its key, version and length); anything else is a miss.
//! - The cache never fails a job: a file that cannot be read or written (disk full, removed
//!   meanwhile, corrupt) is counted (`weaver_bar_cache_total{outcome}`), logged and skipped.
//! - A file appears whole or not at all (written aside, then renamed into place).

use std::io::{Read, Write};
use std::path::{Path, PathBuf};
use std::time::SystemTime;

use chrono::{DateTime, Utc};
use sha2::{Digest, Sha256};

use crate::domain::Bar;
use crate::walle::{self, Walle};

/// Default of `WEAVER_BAR_CACHE_MB`: a gigabyte holds about twenty million bars.
pub const DEFAULT_MB: u64 = 1024;

/// Largest `WEAVER_BAR_CACHE_MB` (a terabyte).
const MAX_MB: u64 = 1 << 20;

/// First bytes of every cache file (format version 1).
const MAGIC: &[u8; 8] = b"WVBARS01";

/// Bytes of one bar in a file: time (i64) and five f64, little-endian.
const BAR_BYTES: usize = 48;

/// Parses `WEAVER_BAR_CACHE_MB`.
///
/// # Errors
/// What is wrong with the value, naming the variable.
pub fn parse_mb(text: &str) -> Result<u64, String> {
    match text.trim().parse::<u64>() {
        Ok(n) if n <= MAX_MB => Ok(n),
        _ => Err(format!(
            "WEAVER_BAR_CACHE_MB must be an integer from 0 (off) to {MAX_MB}, got {:?}",
            text.chars().take(32).collect::<String>()
        )),
    }
}

/// The cache of one process. Cheap to clone.
#[derive(Debug, Clone)]
pub struct BarCache {
    /// `None`: off.
    dir: Option<PathBuf>,
    max_bytes: u64,
}

/// One window of one series as text: what a copy is kept for, stored in the file's header and
/// hashed into its name.
fn window_key(
    symbol: &str,
    timeframe: &str,
    from: DateTime<Utc>,
    to: DateTime<Utc>,
    limit: i64,
) -> String {
    let at = |t: DateTime<Utc>| t.to_rfc3339_opts(chrono::SecondsFormat::Nanos, true);
    format!("{symbol}\n{timeframe}\n{}\n{}\n{limit}", at(from), at(to))
}

impl BarCache {
    /// A cache in `dir` of at most `max_mb` megabytes; off when `max_mb` is 0.
    pub fn new(dir: PathBuf, max_mb: u64) -> BarCache {
        BarCache {
            dir: (max_mb > 0).then_some(dir),
            max_bytes: max_mb.saturating_mul(1 << 20),
        }
    }

    /// The bars of `symbol`/`timeframe` with `from <= ts < to`, at most `limit`, as
    /// [`Walle::bars`] returns them: from this cache when it holds them for the series' current
    /// version, else from the store (and kept here for the next load).
    ///
    /// # Errors
    /// The store's (the cache's own failures only make it a miss).
    pub async fn bars(
        &self,
        walle: &Walle,
        symbol: &str,
        timeframe: &str,
        from: DateTime<Utc>,
        to: DateTime<Utc>,
        limit: i64,
    ) -> Result<Vec<Bar>, walle::Error> {
        let Some(dir) = &self.dir else {
            return walle.bars(symbol, timeframe, from, to, limit).await;
        };
        // Read before the bars (see the module's doc): a write in between leaves a copy labelled
        // with a version the series no longer has.
        let Some(version) = walle.candle_series_version(symbol, timeframe).await? else {
            return walle.bars(symbol, timeframe, from, to, limit).await;
        };
        let key = window_key(symbol, timeframe, from, to, limit);
        let path = dir.join(file_name(&key));
        let (look, look_key) = (path.clone(), key.clone());
        let found = tokio::task::spawn_blocking(move || read(&look, &look_key, version))
            .await
            .unwrap_or_else(|e| Err(format!("reader stopped: {e}")));
        match found {
            Ok(Some(bars)) => {
                count("hit");
                tracing::debug!(symbol, timeframe, bars = bars.len(), "bars from the cache");
                return Ok(bars);
            }
            Ok(None) => count("miss"),
            Err(why) => {
                count("unusable");
                tracing::warn!(path = %path.display(), "bar cache file not used (removed): {why}");
            }
        }
        let bars = walle.bars(symbol, timeframe, from, to, limit).await?;
        let size = (bars.len() * BAR_BYTES) as u64;
        if size > self.max_bytes {
            return Ok(bars);
        }
        let (dir, max) = (dir.clone(), self.max_bytes);
        let kept = tokio::task::spawn_blocking(move || {
            let r = write(&dir, &path, &key, version, &bars).and_then(|()| evict(&dir, max));
            (bars, r)
        })
        .await;
        match kept {
            Ok((bars, Ok(()))) => {
                count("stored");
                Ok(bars)
            }
            Ok((bars, Err(e))) => {
                count("unusable");
                tracing::warn!("bars not kept in the cache: {e}");
                Ok(bars)
            }
            // The writer panicked with the bars: read them again rather than fail the job.
            Err(_) => walle.bars(symbol, timeframe, from, to, limit).await,
        }
    }
}

fn count(outcome: &'static str) {
    ::metrics::counter!("weaver_bar_cache_total", "outcome" => outcome).increment(1);
}

/// The file a window's copy is kept in.
fn file_name(key: &str) -> String {
    let hash = Sha256::digest(key.as_bytes());
    format!("{}.bars", hex::encode(&hash[..16]))
}

/// The copy at `path` if it holds window `key` at `version`; `Ok(None)` when there is none or
/// it was made under another version. A file that cannot be used is removed.
fn read(path: &Path, key: &str, version: i64) -> Result<Option<Vec<Bar>>, String> {
    let found = read_file(path, key, version);
    if found.is_err() {
        let _ = std::fs::remove_file(path);
    }
    found
}

fn read_file(path: &Path, key: &str, version: i64) -> Result<Option<Vec<Bar>>, String> {
    let file = match std::fs::File::open(path) {
        Ok(f) => f,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(e) => return Err(e.to_string()),
    };
    let len = file.metadata().map_err(|e| e.to_string())?.len();
    let mut reader = std::io::BufReader::with_capacity(1 << 16, file);
    let Some(bars) = decode(&mut reader, len, key, version)? else {
        return Ok(None);
    };
    // Used: the eviction removes the least recently used first.
    if let Ok(f) = std::fs::File::options().append(true).open(path) {
        let _ = f.set_modified(SystemTime::now());
    }
    Ok(Some(bars))
}

/// Bytes before the key: magic, version, key length.
const HEAD: usize = 8 + 8 + 4;

/// Longest window text a file may say it holds (a corrupt length must not allocate gigabytes).
const MAX_KEY: usize = 1 << 16;

/// Bars read at a time: the file is never held whole beside the bars made from it.
const BARS_PER_READ: usize = 4096;

/// The bars in a file of `len` bytes, if it was made for `key` at `version`.
fn decode(
    r: &mut impl Read,
    len: u64,
    key: &str,
    version: i64,
) -> Result<Option<Vec<Bar>>, String> {
    let short = |e: std::io::Error| match e.kind() {
        std::io::ErrorKind::UnexpectedEof => "the file is cut short".to_owned(),
        _ => e.to_string(),
    };
    let mut head = [0_u8; HEAD];
    r.read_exact(&mut head).map_err(short)?;
    if &head[..8] != MAGIC {
        return Err("not a bar cache file".into());
    }
    let word = |at: usize| -> [u8; 8] { head[at..at + 8].try_into().unwrap_or_default() };
    let stored_version = i64::from_le_bytes(word(8));
    let key_len = u32::from_le_bytes(head[16..20].try_into().unwrap_or_default()) as usize;
    if key_len > MAX_KEY {
        return Err(format!("a window of {key_len} bytes"));
    }
    let mut stored_key = vec![0_u8; key_len];
    r.read_exact(&mut stored_key).map_err(short)?;
    let mut count = [0_u8; 8];
    r.read_exact(&mut count).map_err(short)?;
    let n = u64::from_le_bytes(count);
    if stored_key != key.as_bytes() {
        // Another window with the same name's hash prefix: not this one's copy.
        return Ok(None);
    }
    if stored_version != version {
        return Ok(None);
    }
    let header = (HEAD + key_len + 8) as u64;
    let expected = n
        .checked_mul(BAR_BYTES as u64)
        .and_then(|b| b.checked_add(header));
    if expected != Some(len) {
        return Err(format!("{len} bytes for {n} bars"));
    }
    let n = usize::try_from(n).map_err(|_| "bar count")?;
    let mut bars = Vec::with_capacity(n);
    let mut buf = vec![0_u8; BAR_BYTES * BARS_PER_READ.min(n.max(1))];
    let f = |b: &[u8], i: usize| f64::from_le_bytes(b[i..i + 8].try_into().unwrap_or_default());
    while bars.len() < n {
        let k = (n - bars.len()).min(BARS_PER_READ);
        let chunk = &mut buf[..k * BAR_BYTES];
        r.read_exact(chunk).map_err(short)?;
        bars.extend(chunk.chunks_exact(BAR_BYTES).map(|b| Bar {
            ts: i64::from_le_bytes(b[..8].try_into().unwrap_or_default()),
            open: f(b, 8),
            high: f(b, 16),
            low: f(b, 24),
            close: f(b, 32),
            volume: f(b, 40),
        }));
    }
    Ok(Some(bars))
}

/// Writes a file holding `bars` of window `key` at `version` to `w`.
fn encode(w: &mut impl Write, key: &str, version: i64, bars: &[Bar]) -> std::io::Result<()> {
    let key_len = u32::try_from(key.len()).unwrap_or(u32::MAX);
    w.write_all(MAGIC)?;
    w.write_all(&version.to_le_bytes())?;
    w.write_all(&key_len.to_le_bytes())?;
    w.write_all(key.as_bytes())?;
    w.write_all(&(bars.len() as u64).to_le_bytes())?;
    let mut one = [0_u8; BAR_BYTES];
    for b in bars {
        one[..8].copy_from_slice(&b.ts.to_le_bytes());
        for (i, v) in [b.open, b.high, b.low, b.close, b.volume]
            .iter()
            .enumerate()
        {
            one[8 + i * 8..16 + i * 8].copy_from_slice(&v.to_le_bytes());
        }
        w.write_all(&one)?;
    }
    Ok(())
}

/// Keeps `bars` at `path`: written aside in `dir`, then renamed into place.
fn write(dir: &Path, path: &Path, key: &str, version: i64, bars: &[Bar]) -> std::io::Result<()> {
    std::fs::create_dir_all(dir)?;
    let aside = dir.join(format!("{}.tmp", uuid::Uuid::new_v4().simple()));
    let written = (|| {
        let mut w = std::io::BufWriter::with_capacity(1 << 16, std::fs::File::create(&aside)?);
        encode(&mut w, key, version, bars)?;
        w.into_inner()
            .map_err(std::io::IntoInnerError::into_error)?;
        std::fs::rename(&aside, path)
    })();
    if written.is_err() {
        let _ = std::fs::remove_file(&aside);
    }
    written
}

/// Removes the least recently used copies until the cache is within `max_bytes`, and files
/// left aside by a process that stopped mid-write (an hour old).
fn evict(dir: &Path, max_bytes: u64) -> std::io::Result<()> {
    let mut files = Vec::new();
    for entry in std::fs::read_dir(dir)? {
        let entry = entry?;
        let Ok(meta) = entry.metadata() else { continue };
        let used = meta.modified().unwrap_or(SystemTime::UNIX_EPOCH);
        let name = entry.file_name();
        let name = name.to_string_lossy();
        if name.ends_with(".tmp") {
            let stale = used.elapsed().is_ok_and(|d| d.as_secs() > 3600);
            if stale {
                let _ = std::fs::remove_file(entry.path());
            }
        } else if name.ends_with(".bars") {
            files.push((used, meta.len(), entry.path()));
        }
    }
    let mut total: u64 = files.iter().map(|f| f.1).sum();
    files.sort_by_key(|f| f.0);
    for (_, len, path) in files {
        if total <= max_bytes {
            break;
        }
        // Gone already (another process's eviction) counts as removed.
        match std::fs::remove_file(&path) {
            Ok(()) => total -= len,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => total -= len,
            Err(e) => return Err(e),
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn encode(key: &str, version: i64, bars: &[Bar]) -> Vec<u8> {
        let mut out = Vec::new();
        super::encode(&mut out, key, version, bars).expect("to memory");
        out
    }

    fn decode(data: &[u8], key: &str, version: i64) -> Result<Option<Vec<Bar>>, String> {
        super::decode(&mut &data[..], data.len() as u64, key, version)
    }

    fn bars(n: i64) -> Vec<Bar> {
        (0..n)
            .map(|i| Bar {
                ts: -62_000_000_000_000 + i * 60_000,
                open: 1.0 + i as f64,
                high: f64::MAX,
                low: -0.0,
                close: f64::MIN_POSITIVE,
                volume: 1e-300,
            })
            .collect()
    }

    #[test]
    fn a_copy_reads_back_bit_for_bit_only_for_its_key_and_version() {
        // More bars than one read takes, and not a multiple of it.
        let b = bars(2 * BARS_PER_READ as i64 + 7);
        let data = encode("K\nwindow", 42, &b);
        let back = decode(&data, "K\nwindow", 42)
            .expect("decodes")
            .expect("hit");
        assert_eq!(back.len(), b.len());
        for (x, y) in back.iter().zip(&b) {
            assert_eq!(x.ts, y.ts);
            for (p, q) in [
                (x.open, y.open),
                (x.high, y.high),
                (x.low, y.low),
                (x.close, y.close),
                (x.volume, y.volume),
            ] {
                assert_eq!(p.to_bits(), q.to_bits());
            }
        }
        assert!(decode(&data, "K\nwindow", 43).expect("decodes").is_none());
        assert!(decode(&data, "K\nother", 42).expect("decodes").is_none());
        assert!(
            decode(&encode("K", 1, &[]), "K", 1)
                .expect("ok")
                .expect("hit")
                .is_empty()
        );
    }

    #[test]
    fn a_cut_or_foreign_file_is_refused() {
        let data = encode("K", 7, &bars(10));
        for cut in [0, 5, 20, data.len() - 1] {
            assert!(decode(&data[..cut], "K", 7).is_err(), "cut at {cut}");
        }
        let mut longer = data.clone();
        longer.push(0);
        assert!(decode(&longer, "K", 7).is_err());
        let mut foreign = data.clone();
        foreign[0] = b'X';
        assert!(decode(&foreign, "K", 7).is_err());
        // A key length no window has: refused before anything is allocated for it.
        let mut huge = data;
        huge[16..20].copy_from_slice(&u32::MAX.to_le_bytes());
        let e = decode(&huge, "K", 7).expect_err("huge key");
        assert!(e.contains("window of"), "{e}");
    }

    #[test]
    fn eviction_removes_the_least_recently_used_first() {
        let dir = tempfile::tempdir().expect("tempdir");
        let d = dir.path();
        let b = bars(100);
        let size = encode("a", 1, &b).len() as u64;
        for (i, k) in ["a", "b", "c"].iter().enumerate() {
            let p = d.join(file_name(k));
            write(d, &p, k, 1, &b).expect("write");
            let t = SystemTime::UNIX_EPOCH + std::time::Duration::from_secs(1_000 + i as u64);
            std::fs::File::options()
                .append(true)
                .open(&p)
                .and_then(|f| f.set_modified(t))
                .expect("mtime");
        }
        // "a" read: now the most recently used.
        assert!(
            read(&d.join(file_name("a")), "a", 1)
                .expect("read")
                .is_some()
        );
        evict(d, 2 * size).expect("evict");
        assert!(d.join(file_name("a")).exists());
        assert!(!d.join(file_name("b")).exists(), "the oldest goes first");
        assert!(d.join(file_name("c")).exists());
        assert!(
            read(&d.join(file_name("zz")), "zz", 1)
                .expect("read")
                .is_none()
        );
    }

    #[test]
    fn the_size_is_an_integer_in_range() {
        assert_eq!(parse_mb(" 0 "), Ok(0));
        assert_eq!(parse_mb("2048"), Ok(2048));
        for bad in ["-1", "1.5", "", "lots", "1048577"] {
            let e = parse_mb(bad).expect_err(bad);
            assert!(e.contains("WEAVER_BAR_CACHE_MB"), "{e}");
        }
    }
}
