//! Shared code of the benchmarks: the session schemas, the same routes written for bare
//! axum, for this project and for tower-sessions, and the stores that count what is written.
//!
//! The criterion micro-benchmarks (`benches/micro.rs`), the load server (`src/bin/load.rs`) and
//! the memory measurement (`src/bin/memory.rs`) all build on these, so every number compares
//! the same handlers doing the same work.

pub mod apps;
pub mod counting;
pub mod schema;
pub mod tower_redis;
