//! The stored form of one session: its cookie state and a map of encoded fields.
//!
//! Stores see only [`Record`]s and field names; they never need the user's types. A record
//! keeps every field under its stored name, so a store may write single fields, and a field
//! that an older or newer version of the struct does not know survives untouched.

use std::collections::BTreeMap;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use bytes::Bytes;
use serde::{Deserialize, Serialize};

use crate::cookie::{Priority, SameSite};

/// The encoded fields of a session, by stored name.
pub type Fields = BTreeMap<String, Bytes>;

/// One session as a store keeps it.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Record {
    /// When the session expires and the cookie settings it was given.
    pub cookie: CookieState,
    /// Encoded field values, by stored name.
    pub fields: Fields,
}

impl Record {
    /// When the record stops being valid, if it has an expiry.
    pub fn expires(&self) -> Option<SystemTime> {
        self.cookie.expires()
    }

    /// Whether the record has expired at `now`. A record without expiry never does.
    pub fn is_expired(&self, now: SystemTime) -> bool {
        self.expires().is_some_and(|at| at <= now)
    }
}

/// The per-session cookie state that express keeps in `req.session.cookie`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct CookieState {
    /// The lifetime the session was given, in milliseconds (`originalMaxAge`); `None` for a
    /// browser-session cookie.
    pub original_max_age_ms: Option<u64>,
    /// Expiry, in milliseconds since the Unix epoch; `None` for a browser-session cookie.
    pub expires_ms: Option<u64>,
    /// Cookie attributes set for this session only, over the middleware's options.
    pub overrides: CookieOverrides,
}

impl CookieState {
    /// A cookie state that lives `max_age` from `now` (or is a browser-session cookie).
    pub fn new(max_age: Option<Duration>, now: SystemTime) -> Self {
        let mut state = Self::default();
        state.set_max_age(max_age, now);
        state
    }

    /// The original lifetime (`originalMaxAge`).
    pub fn original_max_age(&self) -> Option<Duration> {
        self.original_max_age_ms.map(Duration::from_millis)
    }

    /// The expiry instant.
    pub fn expires(&self) -> Option<SystemTime> {
        self.expires_ms
            .map(|ms| UNIX_EPOCH + Duration::from_millis(ms))
    }

    /// The lifetime left at `now` (`cookie.maxAge` in express); zero once expired.
    pub fn max_age(&self, now: SystemTime) -> Option<Duration> {
        self.expires()
            .map(|at| at.duration_since(now).unwrap_or(Duration::ZERO))
    }

    /// Gives the session a new lifetime counted from `now`; `None` makes it a browser-session
    /// cookie.
    pub fn set_max_age(&mut self, max_age: Option<Duration>, now: SystemTime) {
        self.original_max_age_ms = max_age.map(millis);
        self.expires_ms = max_age.map(|age| millis_since_epoch(now + age));
    }

    /// Sets a fixed expiry; the original lifetime becomes the time from `now` until then.
    pub fn set_expires(&mut self, expires: Option<SystemTime>, now: SystemTime) {
        self.expires_ms = expires.map(millis_since_epoch);
        self.original_max_age_ms =
            expires.map(|at| millis(at.duration_since(now).unwrap_or(Duration::ZERO)));
    }

    /// Restarts the countdown: expiry = `now` + original lifetime (express's `touch`).
    pub fn touch(&mut self, now: SystemTime) {
        if let Some(age) = self.original_max_age() {
            self.expires_ms = Some(millis_since_epoch(now + age));
        }
    }
}

/// Cookie attributes one session carries over the middleware's options (`req.session.cookie`
/// in express). `None` means "as configured".
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct CookieOverrides {
    /// `Domain`.
    pub domain: Option<String>,
    /// `Path`.
    pub path: Option<String>,
    /// `HttpOnly`.
    pub http_only: Option<bool>,
    /// `Secure`; also where `secure: auto` is resolved when the session is created.
    pub secure: Option<bool>,
    /// `SameSite`; also where `sameSite: auto` is resolved when the session is created.
    pub same_site: Option<SameSite>,
    /// `Partitioned`.
    pub partitioned: Option<bool>,
    /// `Priority`.
    pub priority: Option<Priority>,
}

fn millis(duration: Duration) -> u64 {
    u64::try_from(duration.as_millis()).unwrap_or(u64::MAX)
}

pub(crate) fn millis_since_epoch(at: SystemTime) -> u64 {
    millis(at.duration_since(UNIX_EPOCH).unwrap_or(Duration::ZERO))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn max_age_counts_down_and_touch_restarts_it() {
        let start = UNIX_EPOCH + Duration::from_secs(1_000);
        let mut cookie = CookieState::new(Some(Duration::from_secs(60)), start);
        assert_eq!(cookie.original_max_age(), Some(Duration::from_secs(60)));
        let later = start + Duration::from_secs(30);
        assert_eq!(cookie.max_age(later), Some(Duration::from_secs(30)));
        cookie.touch(later);
        assert_eq!(cookie.max_age(later), Some(Duration::from_secs(60)));
        assert_eq!(
            cookie.max_age(later + Duration::from_secs(90)),
            Some(Duration::ZERO)
        );
    }

    #[test]
    fn set_expires_derives_the_original_max_age() {
        let now = UNIX_EPOCH + Duration::from_secs(10);
        let mut cookie = CookieState::default();
        cookie.set_expires(Some(now + Duration::from_secs(5)), now);
        assert_eq!(cookie.original_max_age(), Some(Duration::from_secs(5)));
        assert_eq!(cookie.expires(), Some(now + Duration::from_secs(5)));
        cookie.set_max_age(None, now);
        assert_eq!((cookie.expires(), cookie.original_max_age()), (None, None));
    }

    #[test]
    fn browser_session_records_never_expire() {
        let record = Record::default();
        assert!(!record.is_expired(SystemTime::now()));
    }
}
