//! What the layer tells operators, named in one place: the `tracing` spans and events it emits
//! and, with the `metrics` feature, the metrics it records through the `metrics` facade. The
//! list of names in [`guide::observability`](crate::guide::observability) is this module's, and
//! a doctest there checks it against these constants.
//!
//! Nobody listening costs next to nothing: with no subscriber interested, the request's future
//! is not wrapped in a span and store calls are not wrapped at all, each event is a check of a
//! cached flag, and no clock is read; without the `metrics` feature no metric call is compiled.
//! (`bench/RESULTS.md` counts the instructions.)

use std::time::{Duration, Instant};

/// The `tracing` names: the span around each request, and the targets of the events.
pub mod span {
    /// The span around each request the layer handles (level `DEBUG`). Its events: the load,
    /// the turn wait, each store call and the end-of-request decision.
    pub const REQUEST: &str = "sessionly.request";
    /// The target of the store-call events (`op`, `outcome`, `elapsed_us`).
    pub const STORE_TARGET: &str = "sessionly::store";
    /// The target of the turn-wait events (`wait_us`).
    pub const TURN_TARGET: &str = "sessionly::turn";
}

/// The metric names, with the `metrics` feature.
pub mod metric {
    /// Counter: sessions loaded at the start of a request, by `outcome` (`found`,
    /// `missing`, `too_large`, `error`).
    pub const LOADS: &str = "sessionly_loads_total";
    /// Counter: end-of-request and explicit saves, by `outcome` (`ok`, `gone`, `error`,
    /// `too_large`).
    pub const SAVES: &str = "sessionly_saves_total";
    /// Counter: touches, by `outcome` (`ok`, `gone`, `error`).
    pub const TOUCHES: &str = "sessionly_touches_total";
    /// Counter: sessions destroyed (`destroy`, `regenerate`, `unset` with `Unset::Destroy`).
    pub const DESTROYS: &str = "sessionly_destroys_total";
    /// Counter: failed store calls, by `op` and `kind` (`backend`, `gone`, `unsupported`).
    pub const STORE_ERRORS: &str = "sessionly_store_errors_total";
    /// Histogram: seconds each store call took, by `op` (`get`, `set`, `touch`, `destroy`,
    /// `sessions_of`, `destroy_sessions_of`).
    pub const STORE_SECONDS: &str = "sessionly_store_call_seconds";
    /// Histogram: seconds a request waited for its session's turn (`lock_sessions`).
    pub const TURN_WAIT_SECONDS: &str = "sessionly_turn_wait_seconds";
    /// Gauge: sessions in a `MemoryStore`.
    pub const MEMORY_SESSIONS: &str = "sessionly_memory_store_sessions";
    /// Counter: live sessions a full `MemoryStore` evicted.
    pub const MEMORY_EVICTIONS: &str = "sessionly_memory_store_evictions_total";
}

/// Whether timings are wanted: by the `metrics` feature, or by a subscriber of store events.
#[inline]
pub(crate) fn timing() -> bool {
    cfg!(feature = "metrics")
        || tracing::enabled!(target: "sessionly::store", tracing::Level::DEBUG)
        || tracing::enabled!(target: "sessionly::turn", tracing::Level::DEBUG)
}

/// The span around one request: `None` when no subscriber wants it, so that the request's
/// future is not wrapped at all.
pub(crate) fn request_span() -> Option<tracing::Span> {
    let span = tracing::debug_span!("sessionly.request");
    (!span.is_disabled()).then_some(span)
}

/// Reports one store call's `outcome` and, when it was timed, how long it took.
#[cfg_attr(not(feature = "metrics"), allow(unused_variables))]
pub(crate) fn store_call(op: &'static str, outcome: &'static str, elapsed: Option<Duration>) {
    if let Some(elapsed) = elapsed {
        tracing::debug!(
            target: "sessionly::store",
            op,
            outcome,
            elapsed_us = micros(elapsed),
            "store call"
        );
        #[cfg(feature = "metrics")]
        {
            let seconds = elapsed.as_secs_f64();
            // Literal labels make static keys: a label built from a variable would cost an
            // allocation per call, recorder or not.
            macro_rules! by_op {
                ($($op:literal),*) => {
                    match op {
                        $($op => metrics::histogram!(metric::STORE_SECONDS, "op" => $op).record(seconds),)*
                        other => metrics::histogram!(metric::STORE_SECONDS, "op" => other).record(seconds),
                    }
                };
            }
            by_op!(
                "get",
                "set",
                "touch",
                "destroy",
                "sessions_of",
                "destroy_sessions_of"
            );
        }
    }
    #[cfg(feature = "metrics")]
    if outcome != "ok" {
        metrics::counter!(metric::STORE_ERRORS, "op" => op, "kind" => outcome).increment(1);
    }
}

/// The start of a wait that [`turn_waited`] reports: `None` when nobody listens.
pub(crate) fn clock() -> Option<Instant> {
    timing().then(Instant::now)
}

/// Reports how long a request waited for its session's turn, since [`clock`].
pub(crate) fn turn_waited(started: Option<Instant>) {
    if let Some(started) = started {
        let waited = started.elapsed();
        tracing::debug!(target: "sessionly::turn", wait_us = micros(waited), "session turn");
        #[cfg(feature = "metrics")]
        metrics::histogram!(metric::TURN_WAIT_SECONDS).record(waited.as_secs_f64());
    }
}

/// Counts one event of the counter `name` with an `outcome` label.
#[cfg_attr(not(feature = "metrics"), allow(unused_variables))]
pub(crate) fn count(name: &'static str, outcome: &'static str) {
    #[cfg(feature = "metrics")]
    {
        // Literal labels make static keys (see `store_call`).
        macro_rules! by_outcome {
            ($($outcome:literal),*) => {
                match outcome {
                    $($outcome => metrics::counter!(name, "outcome" => $outcome).increment(1),)*
                    other => metrics::counter!(name, "outcome" => other).increment(1),
                }
            };
        }
        by_outcome!("found", "missing", "ok", "gone", "error", "too_large");
    }
}

/// Counts one event of a counter without labels.
#[cfg_attr(not(feature = "metrics"), allow(unused_variables))]
pub(crate) fn count_one(name: &'static str) {
    #[cfg(feature = "metrics")]
    metrics::counter!(name).increment(1);
}

/// Sets the memory store's size gauge.
#[cfg_attr(not(feature = "metrics"), allow(unused_variables))]
pub(crate) fn memory_sessions(count: usize) {
    #[cfg(feature = "metrics")]
    metrics::gauge!(metric::MEMORY_SESSIONS).set(count as f64);
}

fn micros(duration: Duration) -> u64 {
    u64::try_from(duration.as_micros()).unwrap_or(u64::MAX)
}
