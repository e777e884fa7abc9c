//! What a release may change: the API under semantic versioning, the minimum Rust version, the
//! cookie, and sessions stored by earlier releases.
//!
//! - **API**: semantic versioning. Before 1.0, `0.x.y` to `0.x.(y+1)` is compatible and `0.x`
//!   to `0.(x+1)` may break, with every break listed in `CHANGELOG.md`. Types marked
//!   `#[non_exhaustive]` may grow in a compatible release: the error enums
//!   ([`SessionError`](crate::SessionError), [`StoreError`](crate::StoreError),
//!   [`ConfigError`](crate::ConfigError)) and [`Changed`](crate::store::Changed) may gain
//!   variants (match them with a `_` arm; a store reads a `Changed` through
//!   [`fields()`](crate::store::Changed::fields) and
//!   [`writes_owner()`](crate::store::Changed::writes_owner)), and
//!   [`Record`](crate::store::Record), [`CookieState`](crate::store::CookieState) and
//!   [`CookieOverrides`](crate::CookieOverrides) may gain fields (build them with
//!   [`Record::new`](crate::store::Record::new), [`CookieState::new`](crate::store::CookieState::new)
//!   and `CookieOverrides::default()`).
//! - **Rust**: the minimum supported version is 1.94; raising it is a minor release.
//! - **The cookie** is express-session's format and stays so in every release.
//! - **Stored sessions**: what is stored is versioned (format v1: the cookie state and each
//!   postcard field begin with a format byte). Every later release reads what an earlier one
//!   wrote, with the same values: a minor release may write a new format version but keeps
//!   reading the old ones, and only a major release may stop reading a format, with a migration
//!   path in `CHANGELOG.md`. `tests/stores/stored_format.rs` in the repository holds sessions
//!   written by format v1 — as records, as Redis hashes and as a SQLite database — under
//!   `tests/golden/v1/` and checks that they load with exactly their values; a change that
//!   breaks them fails CI. Data written by development builds before 0.1.0 is not format v1 and
//!   reads as missing.
