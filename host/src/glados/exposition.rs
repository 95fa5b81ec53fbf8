//! The Prometheus exposition behind `/metrics`: the process-wide recorder, and the series of a
//! run, which live exactly as long as the run's handle to them.
//!
//! The `metrics` facade cannot remove a series, and the Prometheus recorder keeps every series
//! it was ever given; a gauge labelled by `run_id` would so keep one series per run for the life
//! of the process. Its idle timeout is no cure: it works per kind of metric, and several gauges
//! (the throttle flag, a consumer's in-flight events, the feed's subscribers) are set only when
//! they change, so they would vanish while true. [`RunScoped`] therefore keeps gauges and
//! counters carrying a `run_id` label itself, weakly: the handle `metrics::gauge!` returns owns
//! the value, and the series is rendered while some handle is alive. A run holds its handles for
//! as long as it runs (`runs::metered`), so its series go when it ends.
//!
//! # Invariants
//! - A gauge or counter with a `run_id` label is in `/metrics` while a handle to it is alive, and
//!   never after its last handle is dropped; registering it again (same name and labels) while
//!   a handle lives shares that handle's value.
//! - Every other metric, and histograms whatever their labels, go to the Prometheus recorder
//!   unchanged.
//! - What is kept for run series is bounded by the live handles: dead entries are dropped
//!   whenever one is registered and whenever `/metrics` renders.
//! - Histogram samples do not pile up between scrapes: the Prometheus recorder keeps every
//!   sample recorded since its last render until it folds them into its buckets, so a server
//!   nobody scrapes grew by every strategy call it timed; [`Metrics::keep_up`] folds them every
//!   [`UPKEEP_EVERY`] whether or not anyone scrapes.

use std::collections::HashMap;
use std::fmt::Write as _;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, PoisonError, Weak};

use metrics::{Counter, Gauge, Histogram, Key, KeyName, Metadata, Recorder, SharedString, Unit};
use metrics_exporter_prometheus::{PrometheusHandle, PrometheusRecorder};

/// The label that makes a gauge or counter a run's.
pub(crate) const RUN_LABEL: &str = "run_id";

/// The metrics as `/metrics` renders them. Cheap to clone.
#[derive(Clone)]
pub(crate) struct Metrics {
    prometheus: PrometheusHandle,
    runs: Arc<RunSeries>,
}

/// How often [`Metrics::keep_up`] folds recorded histogram samples into their buckets.
pub(crate) const UPKEEP_EVERY: std::time::Duration = std::time::Duration::from_secs(1);

impl Metrics {
    /// Starts the thread that runs the Prometheus recorder's upkeep every [`UPKEEP_EVERY`]
    /// for the life of the process (a thread, not a task: the recorder is process-wide and
    /// outlives any one runtime). Call once.
    pub(crate) fn keep_up(&self) {
        let handle = self.prometheus.clone();
        let started = std::thread::Builder::new()
            .name("metrics-upkeep".into())
            .spawn(move || {
                loop {
                    std::thread::sleep(UPKEEP_EVERY);
                    handle.run_upkeep();
                }
            });
        if let Err(e) = started {
            tracing::warn!(
                "metrics upkeep thread not started; histograms fold only when /metrics is read: {e}"
            );
        }
    }

    /// The text exposition: the Prometheus recorder's metrics, then the live run series.
    pub(crate) fn render(&self) -> String {
        let mut out = self.prometheus.render();
        self.runs.render_into(&mut out);
        out
    }
}

/// The recorder to install: the Prometheus recorder, with run series kept apart.
pub(crate) struct RunScoped {
    prometheus: PrometheusRecorder,
    runs: Arc<RunSeries>,
}

impl RunScoped {
    /// Wraps `prometheus`; [`RunScoped::metrics`] renders both.
    pub(crate) fn new(prometheus: PrometheusRecorder) -> RunScoped {
        RunScoped {
            prometheus,
            runs: Arc::default(),
        }
    }

    /// What `/metrics` renders from this recorder.
    pub(crate) fn metrics(&self) -> Metrics {
        Metrics {
            prometheus: self.prometheus.handle(),
            runs: self.runs.clone(),
        }
    }
}

fn is_run_series(key: &Key) -> bool {
    key.labels().any(|l| l.key() == RUN_LABEL)
}

impl Recorder for RunScoped {
    fn describe_counter(&self, key: KeyName, unit: Option<Unit>, description: SharedString) {
        self.prometheus.describe_counter(key, unit, description);
    }

    fn describe_gauge(&self, key: KeyName, unit: Option<Unit>, description: SharedString) {
        self.prometheus.describe_gauge(key, unit, description);
    }

    fn describe_histogram(&self, key: KeyName, unit: Option<Unit>, description: SharedString) {
        self.prometheus.describe_histogram(key, unit, description);
    }

    fn register_counter(&self, key: &Key, metadata: &Metadata<'_>) -> Counter {
        if is_run_series(key) {
            Counter::from_arc(self.runs.value(Kind::Counter, key))
        } else {
            self.prometheus.register_counter(key, metadata)
        }
    }

    fn register_gauge(&self, key: &Key, metadata: &Metadata<'_>) -> Gauge {
        if is_run_series(key) {
            Gauge::from_arc(self.runs.value(Kind::Gauge, key))
        } else {
            self.prometheus.register_gauge(key, metadata)
        }
    }

    fn register_histogram(&self, key: &Key, metadata: &Metadata<'_>) -> Histogram {
        self.prometheus.register_histogram(key, metadata)
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
enum Kind {
    Counter,
    Gauge,
}

/// The run series: values owned by their handles, seen here weakly. A gauge's value is its
/// `f64` bits (as `metrics` stores it in an `AtomicU64`), a counter's the count.
#[derive(Default)]
struct RunSeries {
    values: Mutex<HashMap<(Kind, Key), Weak<AtomicU64>>>,
}

impl RunSeries {
    /// The live value of `key`, or a new one.
    fn value(&self, kind: Kind, key: &Key) -> Arc<AtomicU64> {
        let mut values = self.values.lock().unwrap_or_else(PoisonError::into_inner);
        values.retain(|_, v| v.strong_count() > 0);
        let entry = (kind, key.clone());
        if let Some(live) = values.get(&entry).and_then(Weak::upgrade) {
            return live;
        }
        let value = Arc::new(AtomicU64::new(0));
        values.insert(entry, Arc::downgrade(&value));
        value
    }

    /// Appends the live series, grouped by name, in the text format.
    fn render_into(&self, out: &mut String) {
        let mut live: Vec<(Kind, Key, u64)> = {
            let mut values = self.values.lock().unwrap_or_else(PoisonError::into_inner);
            values.retain(|_, v| v.strong_count() > 0);
            values
                .iter()
                .filter_map(|((kind, key), v)| {
                    let v = v.upgrade()?;
                    Some((*kind, key.clone(), v.load(Ordering::Acquire)))
                })
                .collect()
        };
        live.sort_by(|a, b| (a.1.name(), a.0, &a.1).cmp(&(b.1.name(), b.0, &b.1)));
        let mut typed: Option<(&str, Kind)> = None;
        for (kind, key, value) in &live {
            if typed != Some((key.name(), *kind)) {
                if !out.is_empty() && !out.ends_with("\n\n") {
                    out.push('\n');
                }
                let kind_name = match kind {
                    Kind::Counter => "counter",
                    Kind::Gauge => "gauge",
                };
                let _ = writeln!(out, "# TYPE {} {kind_name}", key.name());
                typed = Some((key.name(), *kind));
            }
            out.push_str(key.name());
            out.push('{');
            for (i, label) in key.labels().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                let _ = write!(out, "{}=\"{}\"", label.key(), escape(label.value()));
            }
            out.push_str("} ");
            match kind {
                Kind::Counter => {
                    let _ = writeln!(out, "{value}");
                }
                Kind::Gauge => out.push_str(&sample(f64::from_bits(*value))),
            }
        }
    }
}

/// A gauge's value as the text format spells it, with its line end.
fn sample(v: f64) -> String {
    if v == f64::INFINITY {
        "+Inf\n".to_owned()
    } else if v == f64::NEG_INFINITY {
        "-Inf\n".to_owned()
    } else {
        format!("{v}\n")
    }
}

/// A label value with `\`, `"` and line feeds escaped, as the text format requires.
fn escape(value: &str) -> String {
    value
        .replace('\\', r"\\")
        .replace('"', "\\\"")
        .replace('\n', r"\n")
}

#[cfg(test)]
mod tests {
    use super::*;
    use metrics_exporter_prometheus::PrometheusBuilder;

    fn recorder() -> (RunScoped, Metrics) {
        let r = RunScoped::new(PrometheusBuilder::new().build_recorder());
        let m = r.metrics();
        (r, m)
    }

    #[test]
    fn a_run_series_lives_as_long_as_its_handle() {
        let (r, m) = recorder();
        metrics::with_local_recorder(&r, || {
            let a = metrics::gauge!("t_memory_bytes", "run_id" => "7");
            let b = metrics::gauge!("t_memory_bytes", "run_id" => "8");
            a.set(65_536.0);
            b.set(1.5);
            // Registered again while alive: the same series.
            metrics::gauge!("t_memory_bytes", "run_id" => "7").increment(1.0);
            metrics::counter!("t_things_total", "run_id" => "7", "kind" => "a\"b").increment(3);
            metrics::gauge!("t_throttled").set(0.0);
            let text = m.render();
            assert!(
                text.contains("t_memory_bytes{run_id=\"7\"} 65537\n"),
                "{text}"
            );
            assert!(
                text.contains("t_memory_bytes{run_id=\"8\"} 1.5\n"),
                "{text}"
            );
            assert_eq!(
                text.matches("# TYPE t_memory_bytes gauge").count(),
                1,
                "{text}"
            );
            // The counter's handle was dropped at once: gone, like a run that ended.
            assert!(!text.contains("t_things_total"), "{text}");
            // Not a run's: the Prometheus recorder keeps it, handle or not.
            assert!(text.contains("t_throttled 0"), "{text}");
            drop(a);
            let text = m.render();
            assert!(!text.contains("run_id=\"7\""), "{text}");
            assert!(text.contains("run_id=\"8\""), "{text}");
            assert!(text.contains("t_throttled 0"), "{text}");
            drop(b);
            assert!(!m.render().contains("t_memory_bytes"));
            assert!(
                r.runs.values.lock().expect("lock").is_empty(),
                "nothing kept"
            );
        });
    }

    #[test]
    fn label_values_and_infinities_are_spelled_as_the_text_format_wants() {
        let (r, m) = recorder();
        metrics::with_local_recorder(&r, || {
            let c = metrics::counter!("t_things_total", "run_id" => "1", "why" => "a\"b\\c\nd");
            c.increment(2);
            let g = metrics::gauge!("t_level", "run_id" => "1");
            g.set(f64::INFINITY);
            let text = m.render();
            assert!(text.contains("# TYPE t_things_total counter\n"), "{text}");
            assert!(
                text.contains(r#"t_things_total{run_id="1",why="a\"b\\c\nd"} 2"#),
                "{text}"
            );
            assert!(text.contains("t_level{run_id=\"1\"} +Inf\n"), "{text}");
        });
    }
}
