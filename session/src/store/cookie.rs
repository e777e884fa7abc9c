//! [`CookieStore`]: the choice of keeping each session in its own cookie instead of a store.
//! It is not a [`Store`](super::Store); the backend seals sessions into cookies for it.

use std::time::Duration;

use super::DEFAULT_IDLE_TTL;

/// The most a browser keeps of one cookie, its name and value together (RFC 6265 asks browsers
/// for at least this; Chromium and Firefox drop a larger cookie without a word). A session
/// that would not fit is an error, never a truncated cookie.
pub const MAX_COOKIE_LEN: usize = 4096;

/// A session store that keeps no sessions: give it to the layer and each session lives in its
/// own cookie, encrypted and authenticated.
///
/// ```
/// use sessionly::{CookieStore, SessionLayer};
///
/// let layer = SessionLayer::builder()
///     .secret("a long random secret of at least 32 bytes, not a word")
///     .store(CookieStore::new())
///     .build()
///     .unwrap();
/// ```
///
/// With the feature `cookie-store`, the whole session (its id, fields, owner and lifetimes)
/// travels in the cookie, encrypted and authenticated with XChaCha20-Poly1305. Pick it for no
/// server-side state at all: small sessions, nothing that must be revocable (see
/// [the guide to stores](crate::guide::stores) for the others).
///
/// The key is derived from each secret (HMAC-SHA256 of the secret and a fixed label); the first
/// secret seals, every one opens, so rotation works as it does for signed cookies. The cookie's
/// name is authenticated too. The expiry is inside the sealed payload and checked on every
/// request, so a client that keeps a cookie past its `Expires` gets a new session; a
/// browser-session cookie is valid for an idle TTL after its last save (24 h,
/// [`with_idle_ttl`](CookieStore::with_idle_ttl)), and a due touch re-sends it. A tampered
/// cookie, or one sealed under another secret or name, is a fresh session, never an error.
///
/// What it changes, next to a server-side store (read this before choosing it):
/// - A session must fit in one cookie: [`MAX_COOKIE_LEN`] bytes with the cookie's name, after
///   encryption and base64 (about 2.9 KiB of encoded fields). A larger one is not saved: the
///   response is a `500`, or [`save`](crate::TypedSession::save) answers
///   [`SessionError::CookieTooLarge`](crate::SessionError::CookieTooLarge) first, and the
///   client keeps the cookie it had.
/// - Nothing on the server can end a session. `destroy` and `regenerate` send the client a
///   cleared or new cookie, but a copy of the old cookie (kept by an attacker, or by another
///   tab's request in flight) still opens until its expiry; "log out other devices" and the
///   owner index ([`owner_sessions`](crate::TypedSession::owner_sessions)) answer
///   [`StoreError::Unsupported`](crate::StoreError::Unsupported). Give sessions a short lifetime, and keep what must be
///   revocable (a sign-in that an administrator may end) in a server-side store.
/// - Two requests of one session in flight at once each answer with their own cookie; the
///   browser keeps the last one it receives, so one of the two changes is lost even when they
///   changed different fields.
/// - The client holds its session, encrypted: it cannot read or change it, but it can send an
///   older copy back. Do not keep anything there whose replay matters (a balance, a one-time
///   token).
/// - A session saved by a [`DetachedSession`](crate::DetachedSession) after its response has no
///   cookie to go to: `save` and `reload` answer [`StoreError::Unsupported`](crate::StoreError::Unsupported);
///   so do the testing kit's `Sessions::seed` / `read` and the `save` / `reload` of its
///   unit-test sessions (`Sessions::session`).
/// - There is no store-side turn: [`store_turns`](crate::SessionLayerBuilder::store_turns) is
///   refused at `build()`.
/// - The secrets are encryption keys: each must be long and random (32 bytes or more from a
///   CSPRNG). A guessable secret lets anyone read and forge every session.
///
/// `tests/http/cookie_store.rs` in the repository covers all of the above over HTTP, a golden
/// cookie under `tests/golden/v1/` keeps the format readable by later versions, and the fuzz
/// target `sealed_cookie` feeds any bytes to the opener.
#[derive(Debug, Clone)]
pub struct CookieStore {
    idle_ttl: Duration,
}

impl Default for CookieStore {
    fn default() -> Self {
        Self::new()
    }
}

impl CookieStore {
    /// A cookie store; a session without expiry (a browser-session cookie) opens for 24 hours
    /// after its last save or touch.
    pub fn new() -> Self {
        Self {
            idle_ttl: DEFAULT_IDLE_TTL,
        }
    }

    /// How long a session without expiry (a browser-session cookie) stays valid after its last
    /// save or touch; the layer re-sends its cookie when a touch is due, so an active session
    /// stays open.
    pub fn with_idle_ttl(mut self, ttl: Duration) -> Self {
        self.idle_ttl = ttl;
        self
    }

    /// How long a session without expiry stays valid after its last save or touch.
    pub(crate) fn idle_ttl(&self) -> Duration {
        self.idle_ttl
    }
}
