//! Placeholder: being written.

/// Placeholder.
#[derive(Debug, Clone)]
pub struct SqliteStore;
