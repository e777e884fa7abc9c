//! The one place that touches storage for a request.
//!
//! A layer keeps its sessions either in a server-side [`Store`] (the cookie holds the signed
//! id) or, with [`CookieStore`](crate::CookieStore), sealed into the cookie itself. The request
//! code asks this module to read the cookie, open the session it names, write, touch, destroy
//! or reload it, and to make the cookie value; which kind of storage serves the call is decided
//! here and nowhere else. Same-session requests take turns through [`turns`].

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, SystemTime};

use crate::cookie::Signer;
use crate::error::SessionError;
use crate::observe::{
    self,
    metric::{DESTROYS, LOADS, SAVES, TOUCHES},
};
use crate::record::Record;
use crate::store::{Changed, Chosen, DynStore, NO_FIELDS, Storage, StoreError, fits};

#[cfg(feature = "cookie-store")]
pub(crate) mod sealed;
pub(crate) mod turns;

pub use turns::StoreTurns;
pub(crate) use turns::{Turn, Turns};

#[cfg(feature = "cookie-store")]
use sealed::Sealer;
/// Without the `cookie-store` feature, sessions cannot be kept in cookies: the type has no
/// values, so the `Sealed` variant is never made.
#[cfg(not(feature = "cookie-store"))]
type Sealer = std::convert::Infallible;

/// Where a layer's sessions live: a server-side store, or their cookies.
enum Kind {
    Server(Arc<dyn DynStore>),
    #[cfg_attr(not(feature = "cookie-store"), allow(dead_code))]
    Sealed(Sealer),
}

/// The session id (and, for a cookie session, the session) a request's cookie carried, once
/// its signature was checked or its seal opened.
#[derive(Default)]
pub(crate) struct Incoming {
    /// The id, if a configured secret signed it (or, for a cookie session, if it opened).
    pub(crate) id: Option<String>,
    /// The session a cookie session's cookie held, opened and unexpired.
    sealed: Option<Box<Record>>,
}

/// A session the backend found for a request.
pub(crate) enum Loaded {
    Found(String, Record),
    /// None to be had: no id, an unknown or expired one, or one too large to take.
    Missing,
    Failed(StoreError),
}

/// What an explicit save did with the session.
pub(crate) enum Saved {
    /// It is in the store now.
    Stored,
    /// It goes out in the response's cookie; it was checked to fit there.
    InCookie,
}

/// A layer's storage, with the keys that sign or seal its cookie and its turns.
pub(crate) struct Backend {
    signer: Signer,
    kind: Kind,
    max_session_size: usize,
    idle_ttl: Option<Duration>,
    keeps_cookie_attributes: bool,
    pub(crate) turns: Turns,
    /// Set once the store has answered `Unsupported` to a touch (and that was logged).
    touch_refused: AtomicBool,
}

impl std::fmt::Debug for Backend {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Backend")
            .field("signer", &self.signer)
            .field("sessions_in_cookies", &self.in_cookies())
            .field("max_session_size", &self.max_session_size)
            .field("lock_sessions", &self.turns.locks.is_some())
            .field("store_turns", &self.turns.store)
            .finish_non_exhaustive()
    }
}

impl Backend {
    /// The backend of a layer whose cookie is `name`, signed (or sealed) with `secrets`.
    #[cfg_attr(not(feature = "cookie-store"), allow(unused_variables))]
    pub(crate) fn new(
        storage: Storage,
        signer: Signer,
        secrets: &[Vec<u8>],
        name: &str,
        max_session_size: usize,
        turns: Turns,
    ) -> Self {
        let (kind, idle_ttl, keeps_cookie_attributes) = match storage.0 {
            Chosen::Server(store) => {
                let (idle, keeps) = (store.idle_ttl(), store.keeps_cookie_attributes());
                (Kind::Server(store), idle, keeps)
            }
            #[cfg(feature = "cookie-store")]
            Chosen::Cookies(cookie_store) => {
                let idle = Some(cookie_store.idle_ttl());
                let sealer = Sealer::new(secrets, name, &cookie_store);
                (Kind::Sealed(sealer), idle, false)
            }
            #[cfg(not(feature = "cookie-store"))]
            Chosen::Cookies(never) => match never {},
        };
        Self {
            signer,
            kind,
            max_session_size,
            idle_ttl,
            keeps_cookie_attributes,
            turns,
            touch_refused: AtomicBool::new(false),
        }
    }

    pub(crate) fn in_cookies(&self) -> bool {
        matches!(self.kind, Kind::Sealed(_))
    }

    /// The server-side store, or `Unsupported` for `operation` on sessions kept in cookies.
    fn store(&self, operation: &'static str) -> Result<&Arc<dyn DynStore>, StoreError> {
        match &self.kind {
            Kind::Server(store) => Ok(store),
            Kind::Sealed(_) => Err(StoreError::unsupported(operation)),
        }
    }

    /// The key that signs and verifies session ids.
    pub(crate) fn signer(&self) -> &Signer {
        &self.signer
    }

    /// How long a session without expiry is kept after its last write or touch, if the
    /// storage says.
    pub(crate) fn idle_ttl(&self) -> Option<Duration> {
        self.idle_ttl
    }

    /// Whether new sessions keep their cookie attributes, as express stores them.
    pub(crate) fn keeps_cookie_attributes(&self) -> bool {
        self.keeps_cookie_attributes
    }

    /// What the request's session cookie value `raw` carries: a signed id, or for a cookie
    /// session the id and the session, if one of the secrets' keys sealed it for this cookie.
    pub(crate) fn read_cookie(&self, raw: &str) -> Incoming {
        match &self.kind {
            Kind::Server(_) => {
                let id = self.signer.verify(raw);
                if id.is_none() {
                    tracing::debug!("session cookie unsigned or signature invalid; ignoring it");
                }
                Incoming { id, sealed: None }
            }
            #[cfg(feature = "cookie-store")]
            Kind::Sealed(sealer) => match sealer.open(raw, SystemTime::now()) {
                Some((id, record)) => Incoming {
                    id: Some(id),
                    sealed: record.map(Box::new),
                },
                None => {
                    tracing::debug!("session cookie does not open with any key; ignoring it");
                    Incoming::default()
                }
            },
            #[cfg(not(feature = "cookie-store"))]
            Kind::Sealed(never) => match *never {},
        }
    }

    /// The session the request's cookie names, if it is there, live and within the size limit.
    pub(crate) async fn load(&self, incoming: &Incoming, now: SystemTime) -> Loaded {
        let store = match &self.kind {
            Kind::Server(store) => store,
            Kind::Sealed(_) => return self.load_sealed(incoming),
        };
        let Some(id) = &incoming.id else {
            tracing::debug!("no session id sent; generating a session");
            return Loaded::Missing;
        };
        let limit = self.max_session_size;
        match store.get_within(id, limit).await {
            // The store's check again, for a store that overrides `get_within` and skips it.
            Ok(Some(record)) if !fits(&record, limit) => Loaded::Missing,
            Ok(Some(record)) if !record.is_expired(now) => {
                observe::count(LOADS, "found");
                tracing::debug!("session loaded");
                Loaded::Found(id.clone(), record)
            }
            Ok(_) => {
                observe::count(LOADS, "missing");
                tracing::debug!("session not found or expired; generating a session");
                Loaded::Missing
            }
            Err(error) => {
                observe::count(LOADS, "error");
                tracing::error!(%error, "session store unavailable; the request has no session");
                Loaded::Failed(error)
            }
        }
    }

    /// A cookie session: the one the request's cookie held (opened, authenticated and
    /// unexpired when the cookie was read).
    fn load_sealed(&self, incoming: &Incoming) -> Loaded {
        match (&incoming.id, &incoming.sealed) {
            (Some(id), Some(record)) if fits(record, self.max_session_size) => {
                observe::count(LOADS, "found");
                Loaded::Found(id.clone(), Record::clone(record))
            }
            _ => {
                observe::count(LOADS, "missing");
                Loaded::Missing
            }
        }
    }

    /// The stored copy of session `id` (express's `reload()`); for a cookie session, the one
    /// the request's cookie held (`Unsupported` outside a request).
    pub(crate) async fn reload(
        &self,
        id: &str,
        incoming: &Incoming,
        in_response: bool,
    ) -> Result<Option<Record>, StoreError> {
        match &self.kind {
            Kind::Server(store) => store.get_within(id, self.max_session_size).await,
            Kind::Sealed(_) if !in_response => Err(StoreError::unsupported(
                "reload (a cookie session outside a request has no cookie to read)",
            )),
            Kind::Sealed(_) => {
                let same = incoming.id.as_deref() == Some(id);
                Ok(incoming.sealed.as_deref().filter(|_| same).cloned())
            }
        }
    }

    /// `TooLarge` (and counted) when `record` is over `max_session_size`: a save must not
    /// write it.
    pub(crate) fn check_size(&self, record: &Record) -> Result<(), SessionError> {
        let (size, limit) = (record.encoded_size(), self.max_session_size);
        if size > limit {
            observe::count(SAVES, "too_large");
            return Err(SessionError::TooLarge { size, limit });
        }
        Ok(())
    }

    /// Saves session `id` now (express's `save()`): writes it to the store, under `turn`'s
    /// lease when it holds one. A cookie session is only checked, as it goes out in the
    /// response's cookie; outside a request (`in_response` false: a detached session) it has
    /// none to go to, and that is `Unsupported`.
    pub(crate) async fn save(
        &self,
        turn: &Turn,
        id: &str,
        record: &Record,
        changed: Changed<'_>,
        in_response: bool,
    ) -> Result<Saved, SessionError> {
        self.check_size(record)?;
        if self.in_cookies() {
            if !in_response {
                return Err(SessionError::Store(Arc::new(StoreError::unsupported(
                    "save (a cookie session outside a request has no cookie to go to)",
                ))));
            }
            self.seal(id, record)?;
            return Ok(Saved::InCookie);
        }
        let saved = self.write(turn, id, record, changed, false).await;
        observe::count(SAVES, outcome(&saved));
        saved?;
        Ok(Saved::Stored)
    }

    /// Moves a stored session to the new id `new` (`cycle_id`): checks that `old` is still
    /// stored (a patch of no fields, which answers `Gone` for a session another request ended
    /// meanwhile: that ending stands, and this is `NotFound`), writes `record` whole under
    /// `new`, then deletes `old`, so a failure on the way leaves the session under one id or
    /// the other, never under none. A cookie session is only checked: its next cookie carries
    /// the new id.
    pub(crate) async fn move_to(
        &self,
        turn: &Turn,
        old: &str,
        new: &str,
        record: &Record,
    ) -> Result<Saved, SessionError> {
        self.check_size(record)?;
        if self.in_cookies() {
            self.seal(new, record)?;
            return Ok(Saved::InCookie);
        }
        self.store("set (the session is in its cookie)")?
            .set(old, record, Changed::Fields(&NO_FIELDS))
            .await?;
        let written = self.write(turn, new, record, Changed::All, false).await;
        observe::count(SAVES, outcome(&written));
        written?;
        if let Err(error) = self.destroy(old).await {
            // The session stays under its old id: the copy must not outlive the error as a
            // second live session of the same user.
            if let Err(undo) = self.destroy(new).await {
                tracing::error!(error = %undo, "could not delete the copy of a session whose id change failed");
            }
            return Err(error.into());
        }
        observe::count_one(DESTROYS);
        Ok(Saved::Stored)
    }

    /// Writes `record` of session `id` to the store: under `turn`'s lease when it holds one on
    /// `id` (giving it back with the write if `release`), else plainly.
    pub(crate) async fn write(
        &self,
        turn: &Turn,
        id: &str,
        record: &Record,
        changed: Changed<'_>,
        release: bool,
    ) -> Result<(), StoreError> {
        let store = self.store("set (the session is in its cookie)")?;
        match turn.lease_on(id) {
            Some(token) => {
                let written = store
                    .set_within_lease(id, record, changed, &token, release)
                    .await;
                if release && !matches!(written, Err(StoreError::Backend { .. })) {
                    // Given back with the write, or lost: nothing left to give back.
                    turn.lease_returned();
                }
                written
            }
            None => store.set(id, record, changed).await,
        }
    }

    /// Carries out the store's part of the end-of-request decision: a save (giving `turn`'s
    /// lease back with it) or a touch. Sessions in cookies store nothing: their cookie is the
    /// save (see [`Backend::resends`]).
    pub(crate) async fn commit(
        &self,
        turn: &Turn,
        save: bool,
        id: &str,
        record: &Record,
        changed: Changed<'_>,
    ) -> Result<(), StoreError> {
        let Kind::Server(store) = &self.kind else {
            return Ok(());
        };
        if save {
            tracing::debug!("saving session");
            let written = self.write(turn, id, record, changed, true).await;
            observe::count(SAVES, outcome(&written));
            written
        } else {
            let touched = self.touch(store, id, record).await;
            observe::count(TOUCHES, outcome(&touched));
            touched
        }
    }

    /// Touches session `id`. A store that answers `Unsupported` is warned about once and from
    /// then on touched by a patch of no fields, which does what a touch does: left alone, the
    /// stored expiry would fall behind the cookie's and the session end while still in use.
    async fn touch(
        &self,
        store: &Arc<dyn DynStore>,
        id: &str,
        record: &Record,
    ) -> Result<(), StoreError> {
        if !self.touch_refused.load(Ordering::Relaxed) {
            let touched = store.touch(id, record).await;
            if !matches!(touched, Err(StoreError::Unsupported { .. })) {
                return touched;
            }
            if !self.touch_refused.swap(true, Ordering::Relaxed) {
                tracing::warn!(
                    "the session store answers `Unsupported` to `touch`; touching sessions \
                     with a patch of no fields instead (remove the store's `touch` to get \
                     this as its default, or implement it)"
                );
            }
        }
        store.set(id, record, Changed::Fields(&NO_FIELDS)).await
    }

    /// Whether the session's cookie must go out for a save (`save`) or a touch: a cookie
    /// session's cookie is its save, and its touch when it has no expiry of its own (its idle
    /// expiry is inside the cookie). A touch of a session with an expiry sends nothing: its
    /// sealed expiry is the browser's, which only `rolling` moves.
    pub(crate) fn resends(&self, save: bool, record: &Record) -> bool {
        self.in_cookies() && (save || record.cookie.expires_ms.is_none())
    }

    /// The cookie value for session `id`: its signed id, or for a cookie session the session
    /// sealed (`CookieTooLarge` when it would not fit; counted as a save when `saving`).
    pub(crate) fn cookie_value(
        &self,
        id: &str,
        record: &Record,
        saving: bool,
    ) -> Result<String, SessionError> {
        let value = self.seal(id, record)?;
        if saving && self.in_cookies() {
            observe::count(SAVES, "ok");
        }
        Ok(value)
    }

    /// The cookie value: the signed id, or a cookie session sealed (`CookieTooLarge`, and
    /// counted, when it would not fit).
    #[cfg_attr(not(feature = "cookie-store"), allow(unused_variables))]
    fn seal(&self, id: &str, record: &Record) -> Result<String, SessionError> {
        match &self.kind {
            Kind::Server(_) => Ok(self.signer.sign(id)),
            #[cfg(feature = "cookie-store")]
            Kind::Sealed(sealer) => sealer.seal(id, record).map_err(|error| match error {
                sealed::SealError::TooLarge { size } => {
                    observe::count(SAVES, "too_large");
                    SessionError::CookieTooLarge {
                        size,
                        limit: crate::store::MAX_COOKIE_LEN,
                    }
                }
                sealed::SealError::Encode(error) => {
                    SessionError::Store(Arc::new(StoreError::backend("cookie", error)))
                }
            }),
            #[cfg(not(feature = "cookie-store"))]
            Kind::Sealed(never) => match *never {},
        }
    }

    /// Deletes session `id`. A cookie session has nothing stored: its cookie is cleared or
    /// replaced.
    pub(crate) async fn destroy(&self, id: &str) -> Result<(), StoreError> {
        match &self.kind {
            Kind::Server(store) => store.destroy(id).await,
            Kind::Sealed(_) => Ok(()),
        }
    }

    /// The sessions of `owner`, from the store's per-owner index.
    pub(crate) async fn sessions_of(
        &self,
        owner: &str,
    ) -> Result<Vec<(String, Record)>, StoreError> {
        self.store("sessions_of")?.sessions_of(owner).await
    }

    /// Deletes the sessions of `owner` but `keep`; answers how many.
    pub(crate) async fn destroy_sessions_of(
        &self,
        owner: &str,
        keep: Option<&str>,
    ) -> Result<usize, StoreError> {
        self.store("sessions_of")?
            .destroy_sessions_of(owner, keep)
            .await
    }

    /// Writes a whole new session outside any request (the testing kit's seeding).
    #[cfg(feature = "testing")]
    pub(crate) async fn create(&self, id: &str, record: &Record) -> Result<(), StoreError> {
        self.store("set (the session is in its cookie)")?
            .set(id, record, Changed::All)
            .await
    }

    /// Reads session `id` outside any request (the testing kit).
    #[cfg(feature = "testing")]
    pub(crate) async fn get(&self, id: &str) -> Result<Option<Record>, StoreError> {
        self.store("get (the session is in its cookie)")?
            .get_within(id, self.max_session_size)
            .await
    }

    /// Takes the store-side turn on `id` for at most `ttl`; `None` while another holds it.
    async fn lease(&self, id: &str, ttl: Duration) -> Result<Option<String>, StoreError> {
        self.store("lease")?.lease(id, ttl).await
    }

    /// Gives the store-side turn on `id` back, if `token` still holds it.
    async fn release(&self, id: &str, token: &str) -> Result<(), StoreError> {
        self.store("release")?.release(id, token).await
    }

    /// Gives the store-side turn back from a task of its own, for a request that ended
    /// without awaiting it (dropped midway).
    fn release_later(&self, id: String, token: String) {
        if let (Kind::Server(store), Ok(runtime)) =
            (&self.kind, tokio::runtime::Handle::try_current())
        {
            let store = Arc::clone(store);
            runtime.spawn(async move {
                let _ = store.release(&id, &token).await;
            });
        }
    }
}

/// The `outcome` label of a save or touch.
fn outcome(result: &Result<(), StoreError>) -> &'static str {
    match result {
        Ok(()) => "ok",
        Err(StoreError::Gone) => "gone",
        Err(_) => "error",
    }
}
