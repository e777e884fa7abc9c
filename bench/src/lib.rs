//! Shared code of the benchmarks (placeholder).
