//! What the layer reports: the request span and its events to a `tracing` subscriber, and the
//! metrics to a `metrics` recorder, under the names `sessionly::observe` lists (and `sessionly::guide::observability`).

// A test binary of its own, not a module of `tests/http`: `tracing` caches per call site, for
// the whole process, whether anyone listens. While a test's subscriber is the only one set
// (`set_default`, on its own thread), a call site first reached by a test on another thread is
// cached as unheard, and this test then misses its events. In a binary of their own, the
// tests here run one at a time (`serial`) and nothing else runs beside them.

mod common;

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};

use common::*;
use metrics::{Counter, CounterFn, Gauge, GaugeFn, Histogram, HistogramFn, Key, KeyName};
use metrics::{Metadata, Recorder, SharedString, Unit};
use sessionly::MemoryStore;
use sessionly::observe::{metric, span};
use tracing_subscriber::filter::LevelFilter;

/// Everything recorded, by metric name and labels: counters and gauges as their value,
/// histograms as the number of samples.
#[derive(Clone, Default)]
struct Recorded(Arc<Mutex<BTreeMap<String, f64>>>);

struct Series {
    key: String,
    recorded: Recorded,
}

impl Recorded {
    fn series(&self, key: &Key) -> Arc<Series> {
        let labels: Vec<String> = key
            .labels()
            .map(|l| format!("{}={}", l.key(), l.value()))
            .collect();
        Arc::new(Series {
            key: format!("{}{{{}}}", key.name(), labels.join(",")),
            recorded: self.clone(),
        })
    }

    fn get(&self, key: &str) -> f64 {
        self.0.lock().unwrap().get(key).copied().unwrap_or(0.0)
    }

    fn add(&self, key: &str, value: f64) {
        *self.0.lock().unwrap().entry(key.to_owned()).or_default() += value;
    }

    fn set(&self, key: &str, value: f64) {
        self.0.lock().unwrap().insert(key.to_owned(), value);
    }
}

impl CounterFn for Series {
    fn increment(&self, value: u64) {
        self.recorded.add(&self.key, value as f64);
    }
    fn absolute(&self, value: u64) {
        self.recorded.set(&self.key, value as f64);
    }
}

impl GaugeFn for Series {
    fn increment(&self, value: f64) {
        self.recorded.add(&self.key, value);
    }
    fn decrement(&self, value: f64) {
        self.recorded.add(&self.key, -value);
    }
    fn set(&self, value: f64) {
        self.recorded.set(&self.key, value);
    }
}

impl HistogramFn for Series {
    fn record(&self, _: f64) {
        self.recorded.add(&self.key, 1.0);
    }
}

impl Recorder for Recorded {
    fn describe_counter(&self, _: KeyName, _: Option<Unit>, _: SharedString) {}
    fn describe_gauge(&self, _: KeyName, _: Option<Unit>, _: SharedString) {}
    fn describe_histogram(&self, _: KeyName, _: Option<Unit>, _: SharedString) {}
    fn register_counter(&self, key: &Key, _: &Metadata<'_>) -> Counter {
        Counter::from_arc(self.series(key))
    }
    fn register_gauge(&self, key: &Key, _: &Metadata<'_>) -> Gauge {
        Gauge::from_arc(self.series(key))
    }
    fn register_histogram(&self, key: &Key, _: &Metadata<'_>) -> Histogram {
        Histogram::from_arc(self.series(key))
    }
}

/// One test at a time: `tracing` caches per call site whether anyone listens, and a call site
/// first reached on another thread while this file's subscriber is being set up can miss it.
static ONE_AT_A_TIME: Mutex<()> = Mutex::new(());

fn serial() -> std::sync::MutexGuard<'static, ()> {
    ONE_AT_A_TIME.lock().unwrap_or_else(|p| p.into_inner())
}

fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap()
}

#[test]
fn metrics_count_loads_saves_touches_destroys_and_time_the_store() {
    let _serial = serial();
    let recorded = Recorded::default();
    metrics::with_local_recorder(&recorded, || {
        runtime().block_on(async {
            let store = MemoryStore::new().with_capacity(1);
            let app = app(layer_with(store.clone(), |b| b.rolling(true)));
            let cookie = get_with(&app, "/views", None).await.cookie().unwrap();
            get_with(&app, "/read", Some(&cookie)).await;
            get_with(&app, "/destroy", Some(&cookie)).await;
            // The destroyed one is gone: a new session fits, and the next evicts it.
            get_with(&app, "/views", None).await;
            get_with(&app, "/views", None).await;
        });
    });
    let load = |outcome: &str| recorded.get(&format!("{}{{outcome={outcome}}}", metric::LOADS));
    assert_eq!(load("found"), 2.0, "the read and the destroy loaded it");
    let saves = recorded.get(&format!("{}{{outcome=ok}}", metric::SAVES));
    assert_eq!(saves, 3.0, "three new sessions saved");
    let touches = recorded.get(&format!("{}{{outcome=ok}}", metric::TOUCHES));
    assert_eq!(touches, 1.0, "the rolling read touched");
    assert_eq!(recorded.get(&format!("{}{{}}", metric::DESTROYS)), 1.0);
    assert!(recorded.get(&format!("{}{{op=get}}", metric::STORE_SECONDS)) >= 2.0);
    assert!(recorded.get(&format!("{}{{op=set}}", metric::STORE_SECONDS)) >= 3.0);
    assert!(recorded.get(&format!("{}{{}}", metric::TURN_WAIT_SECONDS)) >= 2.0);
    assert_eq!(
        recorded.get(&format!("{}{{}}", metric::MEMORY_EVICTIONS)),
        1.0
    );
    assert_eq!(
        recorded.get(&format!("{}{{}}", metric::MEMORY_SESSIONS)),
        1.0
    );
}

/// The default `max_session_size` is 64 KiB: a session of 60,000 bytes is saved and loaded, one
/// of 70,000 is refused, and one stored under a larger limit is not loaded; both are counted
/// as `too_large`.
#[test]
fn sessions_over_the_default_64_kib_are_counted_too_large() {
    let _serial = serial();
    let recorded = Recorded::default();
    let fill = |n: usize| {
        axum::Router::new().route(
            "/",
            axum::routing::get(move |mut s: Session| async move {
                s.set_name(Some("x".repeat(n)));
            }),
        )
    };
    metrics::with_local_recorder(&recorded, || {
        runtime().block_on(async {
            let store = MemoryStore::new();
            let fits = fill(60_000).layer(layer_with(store.clone(), |b| b));
            let over = fill(70_000).layer(layer_with(store.clone(), |b| b));
            let generous =
                fill(70_000).layer(layer_with(store.clone(), |b| b.max_session_size(1 << 20)));
            let read = app(layer_with(store.clone(), |b| b));

            let cookie = get_with(&fits, "/", None).await.cookie().unwrap();
            let reply = get_with(&read, "/whoami", Some(&cookie)).await;
            assert_eq!(reply.body.len(), 60_000 + ":0".len(), "saved and loaded");
            assert_eq!(get_with(&over, "/", None).await.status, 500);
            let big = get_with(&generous, "/", None).await.cookie().unwrap();
            assert_eq!(get_with(&read, "/whoami", Some(&big)).await.body, ":0");
        });
    });
    let outcome = |name: &str, outcome: &str| recorded.get(&format!("{name}{{outcome={outcome}}}"));
    assert_eq!(outcome(metric::SAVES, "too_large"), 1.0);
    assert_eq!(outcome(metric::LOADS, "too_large"), 1.0);
    assert_eq!(outcome(metric::LOADS, "found"), 1.0);
}

#[test]
fn store_errors_are_counted_by_kind() {
    let _serial = serial();
    let recorded = Recorded::default();
    metrics::with_local_recorder(&recorded, || {
        runtime().block_on(async {
            let store = Flaky::default();
            let app = app(layer_with(store.clone(), |b| b));
            let cookie = get_with(&app, "/views", None).await.cookie().unwrap();
            store.set_down(true);
            assert_eq!(get_with(&app, "/views", Some(&cookie)).await.status, 503);
        });
    });
    let errors = recorded.get(&format!("{}{{op=get,kind=backend}}", metric::STORE_ERRORS));
    assert_eq!(errors, 1.0);
    assert_eq!(
        recorded.get(&format!("{}{{outcome=error}}", metric::LOADS)),
        1.0
    );
}

/// Runs `f` under a subscriber that prints events of `level` and above; what `f` returned and
/// the text printed so far, read by `f` through the `Captured` it is given.
fn with_logs<T>(level: LevelFilter, f: impl FnOnce(&Captured) -> T) -> (T, String) {
    let (captured, default) = capture_logs(level);
    let result = f(&captured);
    drop(default);
    (result, captured.text())
}

#[test]
fn a_subscriber_sees_the_request_span_store_calls_turns_and_the_decision() {
    let _serial = serial();
    let (cookie, text) = with_logs(LevelFilter::DEBUG, |_| {
        runtime().block_on(async {
            let app = app(layer_with(MemoryStore::new(), |b| b));
            let cookie = get_with(&app, "/views", None).await.cookie().unwrap();
            get_with(&app, "/views", Some(&cookie)).await;
            cookie
        })
    });
    for expected in [
        span::REQUEST,
        span::STORE_TARGET,
        "store call",
        "op=\"get\"",
        "op=\"set\"",
        "elapsed_us=",
        span::TURN_TARGET,
        "wait_us=",
        "end of request",
        "store=Save",
    ] {
        assert!(text.contains(expected), "{expected} missing from:\n{text}");
    }
    assert!(!text.contains(&id_of(&cookie)), "no session id in the logs");
}

#[test]
fn building_a_layer_warns_of_a_cookie_browsers_drop() {
    use sessionly::CookieOptions;
    use sessionly::cookie::SameSite;
    let _serial = serial();
    let ((), text) = with_logs(LevelFilter::INFO, |captured| {
        let build = |same_site| {
            sessionly::SessionLayer::builder()
                .secret("the observability tests' secret, 32+ bytes")
                .cookie(CookieOptions::new().same_site(same_site))
                .build()
                .unwrap()
        };
        build(SameSite::Lax);
        assert!(captured.text().is_empty(), "no warning for Lax");
        build(SameSite::None);
    });
    assert!(text.contains("WARN"), "{text}");
    assert!(text.contains("cookie=connect.sid"), "{text}");
    assert!(
        text.contains("`SameSite=None` without `Secure`: browsers drop the cookie"),
        "{text}"
    );
}
