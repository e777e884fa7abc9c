//! One request's session, shared between the middleware and the handler's extractor.
//!
//! The middleware puts a [`Handle`] in the request's extensions; the extractor decodes typed data
//! from it and writes changed fields back; the middleware reads it again once the handler is
//! done. Store calls made by the handler (`save`, `reload`, `regenerate`, `destroy`) go through
//! here too, and never hold the lock across an `.await`.

use std::collections::BTreeSet;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, SystemTime};

use http::request::Parts;
use tokio::sync::OnceCell;

use crate::config::{Config, CookieOptions, Unset};
use crate::cookie::{SameSite, Secure};
use crate::error::SessionError;
use crate::id::generate_id;
use crate::middleware::SessionLock;
use crate::observe::metric::{DESTROYS, LOADS, SAVES};
use crate::observe::{self, outcome};
use crate::record::{CookieState, Record};
use crate::schema::{ChangeLog, Sink, Tracked};
use crate::store::{Changed, StoreError, fits};

/// The request facts a session needs after the middleware has handed the request on.
pub(crate) struct RequestInfo {
    /// The id the request's cookie carried, if its signature was good (or, for a cookie
    /// session, if it opened).
    pub(crate) cookie_id: Option<String>,
    /// The session a cookie session's cookie held, opened and unexpired.
    pub(crate) sealed: Option<Box<Record>>,
    /// Whether the connection counts as secure (see the `proxy` option).
    pub(crate) secure: bool,
    /// The cookie options a `cookie_with` function computed for this request; `None`: the
    /// layer's own (see [`RequestInfo::options`]).
    pub(crate) own_options: Option<Box<CookieOptions>>,
    /// The request without its body and extensions, kept only for a custom `genid`.
    pub(crate) parts: Option<Box<Parts>>,
}

impl RequestInfo {
    /// No request: no cookie, not secure, the layer's cookie options.
    pub(crate) fn none() -> Self {
        Self {
            cookie_id: None,
            sealed: None,
            secure: false,
            own_options: None,
            parts: None,
        }
    }

    /// The cookie options in force for this request.
    pub(crate) fn options<'a>(&'a self, config: &'a Config) -> &'a CookieOptions {
        self.own_options.as_deref().unwrap_or(&config.cookie.fixed)
    }
}

/// The shared, lockable session of one request.
#[derive(Clone)]
pub(crate) struct Handle(Arc<Shared>);

pub(crate) struct Shared {
    pub(crate) config: Arc<Config>,
    pub(crate) request: RequestInfo,
    slot: Mutex<Slot>,
    /// Set once the session has been loaded (or found unavailable), or once the request is
    /// over without a load: no load starts after that.
    loaded: OnceCell<()>,
    /// The request's turn on its session id (`lock_sessions`), from the load until the
    /// middleware has finished with the session.
    turn: Mutex<Option<SessionLock>>,
    /// The token of the request's store-side turn (`store_turns`) on the session its cookie
    /// names, from the load until the save gives it back (or the request ends).
    lease: Mutex<Option<String>>,
}

/// Where the request's session stands. The session is boxed: the middleware moves it in and out
/// of the slot and holds it across its store calls, and moving 8 bytes keeps its future small (a
/// future over 1 KiB costs more to allocate and free than this box does).
pub(crate) enum Slot {
    /// Not loaded yet: by the middleware before the handler runs, or, with `lazy_load`, by the
    /// first extractor.
    Loading,
    Active(Box<Session>),
    /// The store failed while loading; the handler gets no session.
    Unavailable(Arc<StoreError>),
    Destroyed,
    /// The middleware has taken the session back at the end of the request.
    Finished,
    /// `unset()` was called on the session with this id.
    Unset(Unset, String),
}

/// A live session and what has happened to it.
pub(crate) struct Session {
    pub(crate) id: String,
    pub(crate) record: Record,
    pub(crate) log: ChangeLog,
    /// Whether `regenerate` gave the session a new id during this request.
    pub(crate) regenerated: bool,
    pub(crate) cookie_changed: bool,
    /// The change-log generation the store holds, if it holds this session's current id.
    pub(crate) saved_generation: Option<u64>,
    /// The next write must replace the whole record (new or regenerated session).
    pub(crate) full_write: bool,
    /// The times the store holds for this id, as loaded or last written; `None` before the
    /// store has it.
    pub(crate) stored: Option<Stored>,
}

/// What the store holds of a session's timing, for deciding whether a touch is worth a call.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Stored {
    /// The cookie expiry.
    pub(crate) expires_ms: Option<u64>,
    /// When it was last written or touched.
    pub(crate) touched_ms: u64,
}

impl Stored {
    fn of(cookie: &CookieState) -> Self {
        Self {
            expires_ms: cookie.expires_ms,
            touched_ms: cookie.touched_ms,
        }
    }
}

/// The store write for a session: whole when it is new, else its unsaved fields, with the
/// owner when that changed.
fn change(full_write: bool, owner_changed: bool, fields: &BTreeSet<String>) -> Changed<'_> {
    match (full_write, owner_changed) {
        (true, _) => Changed::All,
        (false, true) => Changed::FieldsAndOwner(fields),
        (false, false) => Changed::Fields(fields),
    }
}

impl Session {
    /// A session loaded from the store.
    pub(crate) fn loaded(id: String, record: Record, resave: bool) -> Self {
        let log = ChangeLog::default();
        Self {
            stored: Some(Stored::of(&record.cookie)),
            regenerated: false,
            saved_generation: (!resave).then_some(log.generation()),
            id,
            record,
            log,
            cookie_changed: false,
            full_write: false,
        }
    }

    pub(crate) fn modified(&self) -> bool {
        self.regenerated || self.cookie_changed || self.log.fields_modified(&self.record.fields)
    }

    pub(crate) fn saved(&self) -> bool {
        self.saved_generation == Some(self.log.generation())
    }

    pub(crate) fn changed(&self) -> Changed<'_> {
        change(self.full_write, self.log.owner_changed, self.log.unsaved())
    }

    /// After the store accepted a write of generation `generation`.
    pub(crate) fn mark_saved(&mut self, generation: u64) {
        self.saved_generation = Some(generation);
        self.log.saved();
        self.full_write = false;
        self.stored = Some(Stored::of(&self.record.cookie));
    }
}

/// A session for a request that brought none (or an unknown one): a new id, an empty record
/// and a fresh cookie.
pub(crate) fn new_session(config: &Config, request: &RequestInfo, now: SystemTime) -> Session {
    let id = match (&config.genid, &request.parts) {
        (Some(genid), Some(parts)) => genid(parts),
        _ => generate_id(),
    };
    Session {
        regenerated: false,
        id,
        record: Record {
            cookie: fresh_cookie(config, request, now),
            fields: Default::default(),
            owner: None,
        },
        log: ChangeLog::default(),
        cookie_changed: false,
        saved_generation: None,
        full_write: true,
        stored: None,
    }
}

/// The cookie state of a session created now: its lifetimes, and `auto` settings resolved
/// against this connection, as express does when it generates a session.
fn fresh_cookie(config: &Config, request: &RequestInfo, now: SystemTime) -> CookieState {
    let options = request.options(config);
    let mut cookie = CookieState::new(options.max_age_from(now), now);
    if let Some(at) = options.fixed_expiry() {
        // The date as configured, as express keeps it (a past one included).
        cookie.set_expires(Some(at), now);
    }
    cookie.set_absolute_lifetime(config.absolute_lifetime, now);
    if options.secure == Secure::Auto {
        cookie.overrides.secure = Some(request.secure);
    }
    if options.same_site == Some(SameSite::Auto) {
        cookie.overrides.same_site = Some(if request.secure {
            SameSite::None
        } else {
            SameSite::Lax
        });
    }
    if config.store.keeps_cookie_attributes() {
        // As express stores them: every attribute, so a Node app sends the same cookie.
        let own = &mut cookie.overrides;
        own.path.get_or_insert_with(|| options.path.clone());
        own.http_only.get_or_insert(options.http_only);
        own.secure.get_or_insert(options.secure == Secure::Always);
        if let Some(domain) = &options.domain {
            own.domain.get_or_insert_with(|| domain.clone());
        }
        if let Some(same_site) = options.same_site {
            own.same_site.get_or_insert(same_site);
        }
        if options.partitioned {
            own.partitioned.get_or_insert(true);
        }
        if let Some(priority) = options.priority {
            own.priority.get_or_insert(priority);
        }
    }
    cookie
}

/// `TooLarge` (and counted) when `record` is over `max_session_size`: a save must not write it.
pub(crate) fn within_limit(config: &Config, record: &Record) -> Result<(), SessionError> {
    let (size, limit) = (record.encoded_size(), config.max_session_size);
    if size > limit {
        observe::count(SAVES, "too_large");
        return Err(SessionError::TooLarge { size, limit });
    }
    Ok(())
}

/// The session the request starts with: the stored one its cookie names, else a new one. An
/// unknown or expired id is never adopted: the new session gets a new id.
async fn load(config: &Config, request: &RequestInfo) -> Slot {
    let now = SystemTime::now();
    if config.sealer.is_some() {
        return load_sealed(config, request, now);
    }
    let Some(id) = &request.cookie_id else {
        tracing::debug!("no session id sent; generating a session");
        return Slot::Active(Box::new(new_session(config, request, now)));
    };
    let limit = config.max_session_size;
    match config.store.get_within(id, limit).await {
        // The store's check again, for a store that overrides `get_within` and skips it.
        Ok(Some(record)) if !fits(&record, limit) => {
            Slot::Active(Box::new(new_session(config, request, now)))
        }
        Ok(Some(record)) if !record.is_expired(now) => {
            observe::count(LOADS, "found");
            tracing::debug!("session loaded");
            Slot::Active(Box::new(Session::loaded(id.clone(), record, config.resave)))
        }
        Ok(_) => {
            observe::count(LOADS, "missing");
            tracing::debug!("session not found or expired; generating a session");
            Slot::Active(Box::new(new_session(config, request, now)))
        }
        Err(error) => {
            observe::count(LOADS, "error");
            tracing::error!(%error, "session store unavailable; the request has no session");
            Slot::Unavailable(Arc::new(error))
        }
    }
}

/// A cookie session: the one the request's cookie held (opened, authenticated and unexpired by
/// the middleware), else a new one.
fn load_sealed(config: &Config, request: &RequestInfo, now: SystemTime) -> Slot {
    match (&request.cookie_id, &request.sealed) {
        (Some(id), Some(record)) if fits(record, config.max_session_size) => {
            observe::count(LOADS, "found");
            let record = Record::clone(record);
            Slot::Active(Box::new(Session::loaded(id.clone(), record, config.resave)))
        }
        _ => {
            observe::count(LOADS, "missing");
            Slot::Active(Box::new(new_session(config, request, now)))
        }
    }
}

/// Seals a cookie session into its cookie value; `CookieTooLarge` (and counted) when it would
/// not fit.
pub(crate) fn seal(
    sealer: &crate::store::sealed::Sealer,
    session: &Session,
) -> Result<String, SessionError> {
    use crate::store::sealed::SealError;
    sealer
        .seal(&session.id, &session.record)
        .map_err(|error| match error {
            SealError::TooLarge { size } => {
                observe::count(SAVES, "too_large");
                SessionError::CookieTooLarge {
                    size,
                    limit: crate::store::sealed::MAX_COOKIE_LEN,
                }
            }
            SealError::Encode(error) => {
                SessionError::Store(Arc::new(StoreError::backend("cookie", error)))
            }
        })
}

impl Handle {
    /// A handle for a request whose session is still to be loaded (see
    /// [`Handle::ensure_loaded`]).
    pub(crate) fn new(config: Arc<Config>, request: RequestInfo) -> Self {
        Self(Arc::new(Shared {
            config,
            request,
            slot: Mutex::new(Slot::Loading),
            loaded: OnceCell::new(),
            turn: Mutex::new(None),
            lease: Mutex::new(None),
        }))
    }

    /// A handle outside any request, on a new session: for the testing kit's unit-test
    /// sessions, which have no middleware to load or save them.
    #[cfg(feature = "testing")]
    pub(crate) fn detached_new(config: Arc<Config>) -> Self {
        let request = RequestInfo::none();
        let session = new_session(&config, &request, SystemTime::now());
        let handle = Self::new(config, request);
        let _ = handle.0.loaded.set(());
        *handle.lock() = Slot::Active(Box::new(session));
        handle
    }

    /// A handle outside any request on session `id` as `record` holds it: for a session
    /// detached from its request, which saves and reloads by itself.
    pub(crate) fn detached(config: Arc<Config>, id: String, record: Record) -> Self {
        let handle = Self::new(config, RequestInfo::none());
        let _ = handle.0.loaded.set(());
        *handle.lock() = Slot::Active(Box::new(Session::loaded(id, record, false)));
        handle
    }

    /// The layer's configuration, shared.
    pub(crate) fn config_arc(&self) -> &Arc<Config> {
        &self.0.config
    }

    /// The layer's configuration.
    pub(crate) fn config(&self) -> &Config {
        &self.0.config
    }

    /// Loads the session the first time anyone asks: takes the request's turn on its session
    /// id, then reads the store. The middleware asks before the handler runs, unless
    /// `lazy_load` leaves it to the extractor.
    pub(crate) async fn ensure_loaded(&self) {
        self.0
            .loaded
            .get_or_init(|| async {
                let Shared {
                    config, request, ..
                } = &*self.0;
                // A load cancelled after its turn came keeps the turn for the next try.
                let holding = self.turn().is_some();
                if let (Some(locks), Some(id), false) = (&config.locks, &request.cookie_id, holding)
                {
                    let started = observe::clock();
                    let turn = locks.acquire(id).await;
                    observe::turn_waited(started);
                    *self.turn() = Some(turn);
                }
                let slot = match self.take_store_turn().await {
                    Ok(()) => load(config, request).await,
                    Err(error) => {
                        observe::count(LOADS, "error");
                        tracing::error!(%error, "no turn on the session; the request has no session");
                        Slot::Unavailable(Arc::new(error))
                    }
                };
                let mut current = self.lock();
                if matches!(*current, Slot::Loading) {
                    *current = slot;
                } else {
                    // The middleware finished the request while this load waited (a task the
                    // handler spawned still extracting): the session stays ended, and the
                    // turn goes straight back.
                    drop(current);
                    self.end_turn();
                }
            })
            .await;
    }

    /// Takes the session's store-side turn (`store_turns`) for a request whose cookie names a
    /// session, waiting with a short, growing backoff, at most the configured wait. Requests
    /// without a session id need none: no other request knows the id they will get.
    async fn take_store_turn(&self) -> Result<(), StoreError> {
        let Shared {
            config, request, ..
        } = &*self.0;
        let (Some(turns), Some(id)) = (&config.store_turns, &request.cookie_id) else {
            return Ok(());
        };
        if self.lease().is_some() {
            return Ok(()); // Taken by a load that was cancelled after it.
        }
        let started = std::time::Instant::now();
        let mut pause = Duration::from_millis(1);
        loop {
            if let Some(token) = config.store.lease(id, turns.lease).await? {
                *self.lease() = Some(token);
                return Ok(());
            }
            let waited = started.elapsed();
            if waited >= turns.wait {
                return Err(StoreError::TurnTimeout { waited });
            }
            // Up to twice as long each time (at most 50 ms), with jitter so that waiters do not
            // all ask at once.
            let most = u64::try_from(pause.as_micros()).unwrap_or(u64::MAX);
            let jitter = Duration::from_micros(rand::random_range(0..=most));
            tokio::time::sleep((pause + jitter).min(turns.wait - waited)).await;
            pause = (pause * 2).min(Duration::from_millis(50));
        }
    }

    fn lease(&self) -> MutexGuard<'_, Option<String>> {
        // Only assignments happen under this lock.
        self.0.lease.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// The token of the store-side turn this request holds on session `id`, if any (a turn is
    /// only ever taken on the id the request's cookie names).
    fn lease_on(&self, id: &str) -> Option<String> {
        if self.0.request.cookie_id.as_deref() != Some(id) {
            return None;
        }
        self.lease().clone()
    }

    /// Forgets the store-side turn: a write gave it back.
    fn lease_returned(&self) {
        self.lease().take();
    }

    /// Gives the store-side turn back, if the request still holds it.
    pub(crate) async fn release_store_turn(&self) {
        let (Some(token), Some(id)) = (self.lease().take(), &self.0.request.cookie_id) else {
            return;
        };
        if let Err(error) = self.0.config.store.release(id, &token).await {
            tracing::warn!(%error, "could not give the session's turn back; it ends with its lease");
        }
    }

    /// Writes `record` of session `id` to the store: under the request's store-side turn when
    /// it holds one on `id` (giving it back with the write if `release`), else plainly.
    pub(crate) async fn write(
        &self,
        id: &str,
        record: &Record,
        changed: Changed<'_>,
        release: bool,
    ) -> Result<(), StoreError> {
        let store = &self.0.config.store;
        match self.lease_on(id) {
            Some(token) => {
                let written = store
                    .set_within_lease(id, record, changed, &token, release)
                    .await;
                if release && !matches!(written, Err(StoreError::Backend { .. })) {
                    // Given back with the write, or lost: nothing left to give back.
                    self.lease_returned();
                }
                written
            }
            None => store.set(id, record, changed).await,
        }
    }

    /// Gives up the request's turn on its session id, if it holds one; a store-side turn still
    /// held (a request dropped midway) is given back by a task of its own.
    fn end_turn(&self) {
        drop(self.turn().take());
        if let Some(token) = self.lease().take()
            && let Some(id) = self.0.request.cookie_id.clone()
            && let Ok(runtime) = tokio::runtime::Handle::try_current()
        {
            let config = Arc::clone(&self.0.config);
            runtime.spawn(async move {
                let _ = config.store.release(&id, &token).await;
            });
        }
    }

    /// Ends the request for the session, however it went (the response sent, an error, the
    /// request dropped): no load starts after this, one under way finds the session ended,
    /// and the turn goes back.
    pub(crate) fn close(&self) {
        let _ = self.0.loaded.set(());
        {
            let mut slot = self.lock();
            if matches!(*slot, Slot::Loading) {
                *slot = Slot::Finished;
            }
        }
        self.end_turn();
    }

    fn turn(&self) -> MutexGuard<'_, Option<SessionLock>> {
        // Only assignments happen under this lock.
        self.0.turn.lock().unwrap_or_else(|p| p.into_inner())
    }

    pub(crate) fn shared(&self) -> &Shared {
        &self.0
    }

    /// Takes the session back for the end-of-request work; later writes from a still-living
    /// extractor are ignored, and a later extraction finds the session ended.
    pub(crate) fn finish(&self) -> Slot {
        // Fails only while a load is under way, which then sees `Finished` and gives up.
        let _ = self.0.loaded.set(());
        std::mem::replace(&mut *self.lock(), Slot::Finished)
    }

    pub(crate) fn lock(&self) -> MutexGuard<'_, Slot> {
        // Every change to the slot is a plain assignment or a flush that cannot panic midway
        // through a field, so a poisoned lock still holds a consistent session.
        self.0.slot.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Runs `f` on the live session, or reports why there is none.
    pub(crate) fn with_session<R>(
        &self,
        f: impl FnOnce(&Shared, &mut Session) -> R,
    ) -> Result<R, SessionError> {
        match &mut *self.lock() {
            Slot::Active(session) => Ok(f(&self.0, session)),
            Slot::Unavailable(error) => Err(SessionError::Unavailable(error.clone())),
            Slot::Loading | Slot::Destroyed | Slot::Finished | Slot::Unset(..) => {
                Err(SessionError::Ended)
            }
        }
    }

    /// Decodes typed data from the session.
    pub(crate) fn load<T: Tracked>(&self) -> Result<T, SessionError> {
        self.with_session(|_, session| T::load(&session.record.fields))
    }

    /// Writes the fields `tracked` changed into the session. A session that has ended takes
    /// no writes.
    pub(crate) fn flush<T: Tracked>(&self, tracked: &mut T) {
        if let Slot::Active(session) = &mut *self.lock() {
            tracked.flush(&mut Sink {
                fields: &mut session.record.fields,
                log: &mut session.log,
                owner: &mut session.record.owner,
            });
        }
    }

    /// Writes the session to the store now (express's `save()`). A cookie session is only
    /// checked: it goes out in the response's cookie, so this reports now whether it fits.
    pub(crate) async fn save(&self) -> Result<(), SessionError> {
        if let Some(sealer) = &self.0.config.sealer {
            let config = &self.0.config;
            return self
                .with_session(|_, s| {
                    within_limit(config, &s.record)?;
                    seal(sealer, s).map(drop)
                })
                .and_then(|checked| checked);
        }
        let (id, record, changed, full, owner, generation) = self.with_session(|_, s| {
            s.record.cookie.touch(SystemTime::now());
            let changed = s.log.unsaved().clone();
            (
                s.id.clone(),
                s.record.clone(),
                changed,
                s.full_write,
                s.log.owner_changed,
                s.log.generation(),
            )
        })?;
        within_limit(&self.0.config, &record)?;
        let write = change(full, owner, &changed);
        let saved = self.write(&id, &record, write, false).await;
        observe::count(SAVES, outcome(&saved));
        saved?;
        self.with_session(|_, s| {
            if s.id == id {
                s.mark_saved(generation);
            }
        })
    }

    /// Replaces the session with the store's copy (express's `reload()`).
    pub(crate) async fn reload(&self) -> Result<(), SessionError> {
        let id = self.with_session(|_, s| s.id.clone())?;
        let config = &self.0.config;
        let record = if config.sealer.is_some() {
            // A cookie session's stored copy is the one the request's cookie held.
            let request = &self.0.request;
            let same = request.cookie_id.as_deref() == Some(id.as_str());
            request.sealed.as_deref().filter(|_| same).cloned()
        } else {
            config
                .store
                .get_within(&id, config.max_session_size)
                .await?
        };
        let record = record
            .filter(|r| !r.is_expired(SystemTime::now()))
            .ok_or(SessionError::NotFound)?;
        self.with_session(|_, s| {
            s.stored = Some(Stored::of(&record.cookie));
            s.record = record;
            s.log.reset();
            s.cookie_changed = false;
            s.full_write = false;
            s.saved_generation = Some(s.log.generation());
        })
    }

    /// Deletes the session from the store and starts a new one with a new id and no data
    /// (express's `regenerate()`).
    pub(crate) async fn regenerate(&self) -> Result<(), SessionError> {
        let id = self.with_session(|_, s| s.id.clone())?;
        self.0.config.store.destroy(&id).await?;
        observe::count_one(DESTROYS);
        self.with_session(|shared, s| {
            let fresh = new_session(&shared.config, &shared.request, SystemTime::now());
            s.id = fresh.id;
            s.regenerated = true;
            s.record = fresh.record;
            s.log.reset();
            s.cookie_changed = false;
            s.saved_generation = None;
            s.full_write = true;
            s.stored = None;
        })
    }

    /// Deletes the session from the store; the request has no session afterwards.
    pub(crate) async fn destroy(&self) -> Result<(), SessionError> {
        let id = self.with_session(|_, s| s.id.clone())?;
        self.0.config.store.destroy(&id).await?;
        observe::count_one(DESTROYS);
        *self.lock() = Slot::Destroyed;
        Ok(())
    }

    /// The sessions of this session's owner, from the store's per-owner index; none when the
    /// session has no owner.
    pub(crate) async fn owner_sessions(&self) -> Result<Vec<(String, Record)>, SessionError> {
        let owner = self.with_session(|_, s| s.record.owner.clone())?;
        let Some(owner) = owner else {
            return Ok(Vec::new());
        };
        Ok(self.0.config.store.sessions_of(&owner).await?)
    }

    /// Deletes the other sessions of this session's owner ("log out other devices"), or all of
    /// them with this one (`keep_this: false`, after which the request has no session).
    /// Answers how many stored sessions were deleted.
    pub(crate) async fn destroy_owner_sessions(
        &self,
        keep_this: bool,
    ) -> Result<usize, SessionError> {
        let (owner, id) = self.with_session(|_, s| (s.record.owner.clone(), s.id.clone()))?;
        let destroyed = match owner {
            Some(owner) => {
                let keep = keep_this.then_some(id.as_str());
                self.0
                    .config
                    .store
                    .destroy_sessions_of(&owner, keep)
                    .await?
            }
            None => 0,
        };
        if !keep_this {
            // Also when the index did not list it yet (a login in this very request).
            self.0.config.store.destroy(&id).await?;
            *self.lock() = Slot::Destroyed;
        }
        Ok(destroyed)
    }

    /// Drops the session from this request; what happens in the store follows `unset`.
    pub(crate) fn unset(&self) {
        let mut slot = self.lock();
        if let Slot::Active(session) = &mut *slot {
            let id = std::mem::take(&mut session.id);
            *slot = Slot::Unset(self.0.config.unset, id);
        }
    }
}
