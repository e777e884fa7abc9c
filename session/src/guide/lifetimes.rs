//! Session lifetimes (idle and absolute, "remember me"), no resurrection of an ended session,
//! and "log out other devices".
//!
//! # Idle and absolute expiry, together
//!
//! A session has an idle lifetime — the cookie's `max_age`, restarted by each request that
//! touches it (with [`rolling(true)`](crate::SessionLayerBuilder::rolling) the browser's cookie
//! follows), or the store's idle TTL for a browser-session cookie — and, with
//! [`.absolute_lifetime(d)`](crate::SessionLayerBuilder::absolute_lifetime), a hard limit
//! counted from its creation that no activity moves. It ends at whichever comes first. Both are
//! stored with the session, every store expires it at the earlier one, and the cookie's
//! `Expires` never goes past the cap. "Remember me" raises both for one session, in either
//! order:
//!
//! ```
//! use std::time::Duration;
//! use sessionly::{SessionData, SessionError, TypedSession};
//!
//! const DAY: Duration = Duration::from_secs(24 * 60 * 60);
//!
//! #[derive(SessionData)]
//! struct Account {
//!     user_id: Option<u64>,
//! }
//!
//! async fn signed_in(
//!     mut session: TypedSession<Account>,
//!     user_id: u64,
//!     remember_me: bool,
//! ) -> Result<(), SessionError> {
//!     session.cycle_id().await?; // a new id; what the visitor had stays
//!     session.set_user_id(Some(user_id));
//!     if remember_me {
//!         session.set_max_age(Some(30 * DAY)); // idle for up to 30 days
//!         session.set_absolute_lifetime(Some(90 * DAY)); // and 90 days at most
//!     }
//!     Ok(())
//! }
//! ```
//!
//! # A new id on login: `cycle_id` or `regenerate`
//!
//! Give the session a new id whenever its privileges change (a login, a sudo step), so an id
//! planted or seen before is worthless after. Two calls do it:
//!
//! - [`cycle_id()`](crate::TypedSession::cycle_id): a new id, and everything else kept — every
//!   schema's fields (libraries' namespaces too), the owner, the lifetime. The stored session
//!   moves to the new id at once and the old id is deleted. What a login usually wants: the
//!   visitor's cart survives signing in.
//! - [`regenerate()`](crate::TypedSession::regenerate): express's: the old session deleted,
//!   a new, empty one with a fresh lifetime. For when nothing from before may carry over (a
//!   shared computer's next user), or for express's exact behaviour.
//!
//! Rotate what a library derived from the old session itself, such as a CSRF token
//! (`examples/libraries.rs` does, in its login).
//!
//! `examples/login.rs` in the repository puts this in a whole app: login, logout, a flash
//! notice, "remember me" under an absolute cap, the user's list of sessions and "log out other
//! devices".
//!
//! # No resurrection
//!
//! Only a new session's first write creates a record; every later write (a patch of the changed
//! fields, a resave, a touch) updates the record only if it is still there, and checks and
//! writes in one atomic step. So a slow request that loaded a session before a logout, a login
//! that regenerated it or changed its id, or a "log out other devices" cannot write it back when it finishes: its
//! change is dropped (a handler's explicit `save()` answers
//! [`SessionError::NotFound`](crate::SessionError::NotFound)) and its response does not resend
//! the dead id. [`sessionly::testing::conformance`](crate::testing::conformance) races a slow
//! request against each of those endings, across two processes, on every store.
//!
//! # Log out other devices
//!
//! Mark the field that names the user `#[session(owner)]` and the store keeps an index of each
//! owner's sessions:
//!
//! ```
//! use sessionly::{SessionData, SessionError, TypedSession};
//!
//! #[derive(SessionData)]
//! struct Account {
//!     #[session(owner)]
//!     user_id: Option<u64>,
//! }
//!
//! async fn security_page(mut session: TypedSession<Account>) -> Result<String, SessionError> {
//!     let signed_in = session.owner_sessions().await?.len(); // (id, record) pairs
//!     let logged_out = session.destroy_other_sessions().await?;
//!     Ok(format!("{signed_in} sessions, {logged_out} logged out"))
//! }
//! ```
//!
//! [`destroy_all_sessions()`](crate::TypedSession::destroy_all_sessions) ends this one too.
//! Outside a request (an admin, a password reset) call the store itself, on a clone of the store
//! you gave the layer: [`sessions_of`](crate::store::OwnerIndex::sessions_of) and
//! [`destroy_sessions_of`](crate::store::OwnerIndex::destroy_sessions_of), from the
//! [`OwnerIndex`](crate::store::OwnerIndex) trait. The ids in the list are as secret as the
//! cookies: show when a session started and ends, never its id.
//!
//! ```
//! use sessionly::store::OwnerIndex as _;
//! use sessionly::{MemoryStore, SessionLayer};
//!
//! # tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap().block_on(async {
//! let store = MemoryStore::new();
//! let layer = SessionLayer::builder()
//!     .secret("a secret of at least thirty-two bytes!")
//!     .store(store.clone())
//!     .build()
//!     .unwrap();
//! // … later, after a password reset of user 42:
//! let sessions = store.sessions_of("42").await.unwrap();
//! let ended = store.destroy_sessions_of("42", None).await.unwrap();
//! assert_eq!(sessions.len(), ended);
//! # drop(layer);
//! # });
//! ```
//!
//! What the index costs, per store:
//! - [`MemoryStore`](crate::MemoryStore): a set of ids per owner.
//! - SQLite, PostgreSQL and MySQL: an indexed `owner` column written with each save (listing is
//!   an index scan, "log out everywhere" one `DELETE`).
//! - Redis: a sorted set per owner (`sess#:owner:<owner>` beside `sess:<id>`, never colliding
//!   with a session key), scored by each session's expiry and expiring with the latest one: a
//!   touch or save of an owned session sends one more command alongside (about the same
//!   latency), a sign-in or sign-out on an existing id up to three more round trips, a destroy
//!   one more; listing repairs the set as it goes. Sessions without an owner pay nothing: the
//!   Redis test suite counts the commands. The Redis index needs Redis 6.2 or newer (or Valkey).
//! - [`CookieStore`](crate::CookieStore), [`ConnectRedisStore`](crate::ConnectRedisStore) and
//!   [`ConnectPgStore`](crate::ConnectPgStore) have no index: the owner's sessions answer
//!   [`StoreError::Unsupported`](crate::StoreError::Unsupported).
