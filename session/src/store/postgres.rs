//! Placeholder: being written.

/// Placeholder.
#[derive(Debug, Clone)]
pub struct PostgresStore;
