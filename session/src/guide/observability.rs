//! What the layer tells operators: `tracing` spans and events, and metrics through the
//! `metrics` facade. The names are constants in [`sessionly::observe`](crate::observe), the one
//! place they are defined.
//!
//! # Tracing
//!
//! Every request runs in a `tracing` span, [`sessionly.request`](crate::observe::span::REQUEST)
//! (level `DEBUG`), whose events say what the layer did: the load (found, missing, unavailable,
//! over the size limit), the wait for the session's turn (target
//! [`sessionly::turn`](crate::observe::span::TURN_TARGET), field `wait_us`), each store call
//! (target [`sessionly::store`](crate::observe::span::STORE_TARGET), fields `op`, `outcome` and
//! `elapsed_us`) and the end-of-request decision (`store` and `cookie`). Warnings and errors say
//! what went wrong (a corrupt record, a store outage, a save that failed); no event carries a
//! session id, a cookie or a secret.
//!
//! # Metrics
//!
//! With the `metrics` feature the layer records, through the
//! [`metrics`](https://docs.rs/metrics) facade (install any recorder, e.g. a Prometheus
//! exporter):
//!
//! | name | kind | labels | what |
//! |---|---|---|---|
//! | [`sessionly_loads_total`](crate::observe::metric::LOADS) | counter | `outcome`: `found`, `missing`, `too_large`, `error` | sessions loaded at the start of a request |
//! | [`sessionly_saves_total`](crate::observe::metric::SAVES) | counter | `outcome`: `ok`, `gone`, `error`, `too_large` | end-of-request and explicit saves |
//! | [`sessionly_touches_total`](crate::observe::metric::TOUCHES) | counter | `outcome`: `ok`, `gone`, `error` | touches of unmodified sessions |
//! | [`sessionly_destroys_total`](crate::observe::metric::DESTROYS) | counter | | `destroy`, `regenerate`, `unset` with `Unset::Destroy` |
//! | [`sessionly_store_errors_total`](crate::observe::metric::STORE_ERRORS) | counter | `op`, `kind`: `backend`, `gone`, `unsupported` | failed store calls |
//! | [`sessionly_store_call_seconds`](crate::observe::metric::STORE_SECONDS) | histogram | `op`: `get`, `set`, `touch`, `destroy`, `sessions_of`, `destroy_sessions_of` | store latency |
//! | [`sessionly_turn_wait_seconds`](crate::observe::metric::TURN_WAIT_SECONDS) | histogram | | time waiting for the session's turn (`lock_sessions`) |
//! | [`sessionly_memory_store_sessions`](crate::observe::metric::MEMORY_SESSIONS) | gauge | | sessions in the `MemoryStore` |
//! | [`sessionly_memory_store_evictions_total`](crate::observe::metric::MEMORY_EVICTIONS) | counter | | live sessions a full `MemoryStore` evicted |
//!
//! The table's names are the constants' values, which this doctest checks:
//!
//! ```
//! use sessionly::observe::{metric, span};
//!
//! assert_eq!(span::REQUEST, "sessionly.request");
//! assert_eq!(span::TURN_TARGET, "sessionly::turn");
//! assert_eq!(span::STORE_TARGET, "sessionly::store");
//! assert_eq!(metric::LOADS, "sessionly_loads_total");
//! assert_eq!(metric::SAVES, "sessionly_saves_total");
//! assert_eq!(metric::TOUCHES, "sessionly_touches_total");
//! assert_eq!(metric::DESTROYS, "sessionly_destroys_total");
//! assert_eq!(metric::STORE_ERRORS, "sessionly_store_errors_total");
//! assert_eq!(metric::STORE_SECONDS, "sessionly_store_call_seconds");
//! assert_eq!(metric::TURN_WAIT_SECONDS, "sessionly_turn_wait_seconds");
//! assert_eq!(metric::MEMORY_SESSIONS, "sessionly_memory_store_sessions");
//! assert_eq!(metric::MEMORY_EVICTIONS, "sessionly_memory_store_evictions_total");
//! ```
//!
//! `tests/observability.rs` in the repository checks both outputs. Without the `metrics`
//! feature and without a subscriber that wants `DEBUG` events from the layer, the layer reads no
//! clock and records nothing (`bench/RESULTS.md` counts the instructions).
