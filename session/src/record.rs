//! The stored form of one session: its lifetimes and cookie state, its owner, and a map of
//! encoded fields.
//!
//! Stores see only [`Record`]s and field names; they never need the user's types. A record
//! keeps every field under its stored name, so a store may write single fields, and a field
//! that an older or newer version of the struct does not know survives untouched.
//!
//! A session has two lifetimes: an idle one (express's `maxAge`, restarted by every touch) and
//! an optional absolute one counted from its creation, which nothing restarts. It ends at
//! whichever comes first; [`CookieState::store_expiry_ms`] is that instant for a store.

use std::collections::BTreeMap;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use bytes::Bytes;
use serde::{Deserialize, Serialize};

use crate::codec::CodecError;
use crate::cookie::{Priority, SameSite};

/// The first byte of an encoded [`CookieState`], version 1: postcard of the struct as it is in
/// this version. Part of the stored format: a version that changes the struct writes a byte of
/// its own and keeps reading this one. (Not 0 or 1, the first bytes of the unversioned
/// encoding of earlier builds, which therefore read as corrupt rather than as a wrong state.)
const COOKIE_STATE_V1: u8 = 0xC1;

/// The encoded fields of a session, by stored name.
pub type Fields = BTreeMap<String, Bytes>;

/// One session as a store keeps it.
///
/// Build one with [`Record::new`]; fields may be added in a minor release.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct Record {
    /// When the session expires and the cookie settings it was given.
    pub cookie: CookieState,
    /// Encoded field values, by stored name.
    pub fields: Fields,
    /// Who the session belongs to, from the field marked `#[session(owner)]`; stores that keep
    /// a per-owner index ([`OwnerIndex::sessions_of`](crate::store::OwnerIndex::sessions_of)) index it.
    #[serde(default)]
    pub owner: Option<String>,
}

impl Record {
    /// A record of `fields` with `cookie` state and no owner.
    pub fn new(cookie: CookieState, fields: Fields) -> Self {
        Self {
            cookie,
            fields,
            owner: None,
        }
    }

    /// The bytes of the session's data: every encoded field with its name, and the owner. What
    /// [`max_session_size`](crate::SessionLayerBuilder::max_session_size) limits; the cookie
    /// state (a few dozen bytes) is not counted.
    pub fn encoded_size(&self) -> usize {
        let fields: usize = self
            .fields
            .iter()
            .map(|(name, value)| name.len() + value.len())
            .sum();
        fields + self.owner.as_ref().map_or(0, String::len)
    }

    /// When the record stops being valid, if it has an expiry.
    pub fn expires(&self) -> Option<SystemTime> {
        self.cookie.expires()
    }

    /// Whether the record has expired at `now`: its idle expiry or its absolute expiry has
    /// passed. A record with neither never expires (its store's idle TTL still applies).
    pub fn is_expired(&self, now: SystemTime) -> bool {
        let now = millis_since_epoch(now);
        [self.cookie.expires_ms, self.cookie.absolute_ms]
            .into_iter()
            .flatten()
            .any(|at| at <= now)
    }
}

/// The per-session cookie state that express keeps in `req.session.cookie`, with the
/// session's creation time and absolute expiry.
///
/// The idle expiry never passes the absolute one: every method that moves it caps it there.
///
/// Build one with [`CookieState::new`]; fields may be added in a minor release.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct CookieState {
    /// The lifetime the session was given, in milliseconds (`originalMaxAge`); `None` for a
    /// browser-session cookie.
    pub original_max_age_ms: Option<u64>,
    /// Expiry, in milliseconds since the Unix epoch; `None` for a browser-session cookie.
    pub expires_ms: Option<u64>,
    /// When the session was created, in milliseconds since the Unix epoch.
    pub created_ms: u64,
    /// When the session was last written or touched, in milliseconds since the Unix epoch: for
    /// a browser-session cookie, where the store's idle TTL was last restarted.
    pub touched_ms: u64,
    /// The absolute expiry, in milliseconds since the Unix epoch: the session ends then
    /// however active it is. `None`: no absolute limit.
    pub absolute_ms: Option<u64>,
    /// Cookie attributes set for this session only, over the middleware's options.
    pub overrides: CookieOverrides,
}

impl CookieState {
    /// The versioned bytes a store keeps: a format byte, then the state. Every release reads
    /// what earlier releases wrote ([`decode`](CookieState::decode)).
    pub fn encode(&self) -> Result<Vec<u8>, CodecError> {
        let mut bytes = Vec::with_capacity(48);
        bytes.push(COOKIE_STATE_V1);
        postcard::to_extend(self, bytes).map_err(|e| CodecError::new("cookie state", e))
    }

    /// Reads what [`encode`](CookieState::encode) wrote, in this or an earlier release.
    pub fn decode(bytes: &[u8]) -> Result<Self, CodecError> {
        let error = |message: &dyn std::fmt::Display| CodecError::new("cookie state", message);
        match bytes {
            [COOKIE_STATE_V1, body @ ..] => match postcard::take_from_bytes(body) {
                Ok((state, [])) => Ok(state),
                Ok((_, rest)) => Err(error(&format_args!(
                    "{} trailing bytes after the state",
                    rest.len()
                ))),
                Err(e) => Err(error(&e)),
            },
            [first, ..] => Err(error(&format_args!(
                "unknown format {first:#04x} (a newer version wrote it?)"
            ))),
            [] => Err(error(&"empty")),
        }
    }

    /// A cookie state created `now` that lives `max_age` from then (or is a browser-session
    /// cookie), without absolute limit.
    pub fn new(max_age: Option<Duration>, now: SystemTime) -> Self {
        let mut state = Self {
            created_ms: millis_since_epoch(now),
            touched_ms: millis_since_epoch(now),
            ..Self::default()
        };
        state.set_max_age(max_age, now);
        state
    }

    /// When the session was created.
    pub fn created(&self) -> SystemTime {
        UNIX_EPOCH + Duration::from_millis(self.created_ms)
    }

    /// The absolute expiry, if the session has one.
    pub fn absolute_expiry(&self) -> Option<SystemTime> {
        self.absolute_ms
            .map(|ms| UNIX_EPOCH + Duration::from_millis(ms))
    }

    /// Limits the session to `lifetime` from its creation (`None`: no limit), and restarts
    /// the idle countdown from `now` under the new limit, so that raising both lifetimes
    /// ("remember me") gives the same result in either order.
    pub fn set_absolute_lifetime(&mut self, lifetime: Option<Duration>, now: SystemTime) {
        self.absolute_ms = lifetime.map(|life| self.created_ms.saturating_add(millis(life)));
        self.touch(now);
    }

    /// When a store must drop the session, in ms since the epoch: its expiry, or `idle_ttl`
    /// from `now` for a browser-session cookie, and never later than its absolute expiry.
    pub fn store_expiry_ms(&self, idle_ttl: Duration, now: SystemTime) -> u64 {
        let idle = self
            .expires_ms
            .unwrap_or_else(|| millis_since_epoch(now).saturating_add(millis(idle_ttl)));
        self.cap(idle)
    }

    fn cap(&self, expires_ms: u64) -> u64 {
        self.absolute_ms
            .map_or(expires_ms, |abs| expires_ms.min(abs))
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
        self.expires_ms = max_age.map(|age| self.cap(after(now, age)));
    }

    /// Sets a fixed expiry (capped by the absolute one); the original lifetime becomes the
    /// time from `now` until then.
    ///
    /// A time in the past stays the expiry (express: a negative `maxAge`): the session has
    /// ended, and its cookie says so with that date.
    pub fn set_expires(&mut self, expires: Option<SystemTime>, now: SystemTime) {
        let now_ms = millis_since_epoch(now);
        self.expires_ms = expires.map(|at| self.cap(millis_since_epoch(at)));
        // In whole ms on both sides, so that a touch within the same ms gives `expires` back.
        self.original_max_age_ms = expires.map(|at| millis_since_epoch(at).saturating_sub(now_ms));
    }

    /// Whether [`set_max_age`](Self::set_max_age)`(max_age)` would leave the lifetime as it
    /// is (the countdown aside, which the end-of-request touch restarts in the store; the
    /// browser's copy moves only when the cookie is resent, as in express).
    pub(crate) fn has_max_age(&self, max_age: Option<Duration>) -> bool {
        self.original_max_age_ms == max_age.map(millis)
            && self.expires_ms.is_some() == max_age.is_some()
    }

    /// Whether [`set_expires`](Self::set_expires)`(expires)` would leave the expiry as it is:
    /// only `None` on a browser-session cookie. A fixed time always counts as a change, since
    /// it also sets the lifetime later touches restart from (and the absolute cap may hide
    /// the difference in the expiry itself).
    pub(crate) fn has_expiry(&self, expires: Option<SystemTime>) -> bool {
        expires.is_none() && self.expires_ms.is_none() && self.original_max_age_ms.is_none()
    }

    /// Whether [`set_absolute_lifetime`](Self::set_absolute_lifetime)`(lifetime)` would leave
    /// the absolute expiry as it is.
    pub(crate) fn has_absolute_lifetime(&self, lifetime: Option<Duration>) -> bool {
        self.absolute_ms == lifetime.map(|life| self.created_ms.saturating_add(millis(life)))
    }

    /// Restarts the countdown: expiry = `now` + original lifetime (express's `touch`), capped
    /// by the absolute expiry; `touched_ms` becomes `now`.
    ///
    /// An expiry set in the past (see [`set_expires`](Self::set_expires)) stays where it is.
    pub fn touch(&mut self, now: SystemTime) {
        self.touched_ms = millis_since_epoch(now);
        let Some(age) = self.original_max_age() else {
            return;
        };
        if age.is_zero() && self.expires_ms.is_some_and(|at| at < self.touched_ms) {
            return;
        }
        self.expires_ms = Some(self.cap(after(now, age)));
    }
}

/// Cookie attributes one session carries over the middleware's options (`req.session.cookie`
/// in express). `None` means "as configured".
///
/// Start from `CookieOverrides::default()` and set what you need; attributes may be added in a
/// minor release.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[non_exhaustive]
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

/// `now + duration` in ms since the epoch, saturating instead of overflowing.
fn after(now: SystemTime, duration: Duration) -> u64 {
    millis_since_epoch(now).saturating_add(millis(duration))
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
    fn the_absolute_expiry_caps_every_move_of_the_idle_one() {
        let start = UNIX_EPOCH + Duration::from_secs(1_000);
        let mut cookie = CookieState::new(Some(Duration::from_secs(60)), start);
        cookie.set_absolute_lifetime(Some(Duration::from_secs(100)), start);
        let cap = Some(start + Duration::from_secs(100));
        assert_eq!(cookie.absolute_expiry(), cap);
        assert_eq!(cookie.expires(), Some(start + Duration::from_secs(60)));
        cookie.touch(start + Duration::from_secs(70));
        assert_eq!(cookie.expires(), cap, "touch stops at the cap");
        cookie.set_max_age(Some(Duration::from_secs(3600)), start);
        assert_eq!(cookie.expires(), cap);
        cookie.set_expires(Some(start + Duration::from_secs(500)), start);
        assert_eq!(cookie.expires(), cap);
        let idle = Duration::from_secs(3600);
        let mut browser = CookieState::new(None, start);
        assert_eq!(browser.store_expiry_ms(idle, start), 1_000_000 + 3_600_000);
        browser.set_absolute_lifetime(Some(Duration::from_secs(100)), start);
        assert_eq!(browser.store_expiry_ms(idle, start), 1_100_000);
        assert_eq!(browser.expires(), None, "still a browser-session cookie");
        let record = Record {
            cookie: browser,
            ..Record::default()
        };
        assert!(!record.is_expired(start + Duration::from_secs(99)));
        assert!(record.is_expired(start + Duration::from_secs(100)));
    }

    #[test]
    fn remember_me_raises_both_lifetimes_in_either_order() {
        let start = UNIX_EPOCH + Duration::from_secs(1_000);
        let now = start + Duration::from_secs(10);
        let (day, month) = (
            Duration::from_secs(86_400),
            Duration::from_secs(30 * 86_400),
        );
        let mut base = CookieState::new(Some(Duration::from_secs(60)), start);
        base.set_absolute_lifetime(Some(Duration::from_secs(600)), start);
        let mut one = base.clone();
        one.set_max_age(Some(day), now);
        one.set_absolute_lifetime(Some(month), now);
        let mut other = base;
        other.set_absolute_lifetime(Some(month), now);
        other.set_max_age(Some(day), now);
        assert_eq!(one, other);
        assert_eq!(one.expires(), Some(now + day));
        assert_eq!(one.absolute_expiry(), Some(start + month));
    }

    #[test]
    fn browser_session_records_never_expire() {
        let record = Record::default();
        assert!(!record.is_expired(SystemTime::now()));
    }
}
