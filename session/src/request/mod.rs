//! One request's session, shared between the layer and the handler's extractor, and the
//! express Session API on it.
//!
//! The layer puts a [`Handle`] in the request's extensions; the extractor ([`extract`])
//! decodes typed data from it and writes changed fields back; the layer reads it again once
//! the handler is done. What the handler asks of the store (`save`, `reload`, `regenerate`,
//! `destroy`, the owner's sessions) goes through here to the [`backend`](crate::backend), and
//! never holds the lock across an `.await`.

use std::sync::{Arc, Mutex, MutexGuard};
use std::time::SystemTime;

use http::request::Parts;
use tokio::sync::OnceCell;

use crate::backend::{Incoming, Loaded, Saved, Turn};
use crate::config::{Config, CookieOptions, Unset};
use crate::error::SessionError;
use crate::observe::{self, metric::DESTROYS, metric::LOADS};
use crate::record::Record;
use crate::schema::{Sink, Tracked};
use crate::store::StoreError;
use crate::transport::Carrier;

pub(crate) mod detach;
pub(crate) mod extract;
mod session;

use session::new_id;
pub(crate) use session::{Session, new_session};
use session::{Stored, change};

/// Marks, for the extractor, a request outside the cookie's path.
#[derive(Debug, Clone)]
pub(crate) struct OutsidePath(pub(crate) String);

/// The request facts a session needs after the layer has handed the request on.
pub(crate) struct RequestInfo {
    /// What the request's session cookie (or token header) carried, verified.
    pub(crate) incoming: Incoming,
    /// Which of the two the request came by, and its response answers in.
    pub(crate) carrier: Carrier,
    /// Whether the connection counts as secure (see the `proxy` option).
    pub(crate) secure: bool,
    /// The cookie options a `cookie_with` function computed for this request; `None`: the
    /// layer's own (see [`RequestInfo::options`]).
    pub(crate) own_options: Option<Box<CookieOptions>>,
    /// The request without its body and extensions, kept only for a custom `genid`.
    pub(crate) parts: Option<Box<Parts>>,
    /// Whether a response follows (a request), or not (a detached session, a unit-test one).
    pub(crate) in_response: bool,
}

impl RequestInfo {
    /// No request: no cookie, not secure, the layer's cookie options, no response to follow.
    pub(crate) fn none() -> Self {
        Self {
            incoming: Incoming::default(),
            carrier: Carrier::Cookie,
            secure: false,
            own_options: None,
            parts: None,
            in_response: false,
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
    /// The request's turn on the session its cookie names (`lock_sessions`, `store_turns`),
    /// from the load until the layer has finished with the session.
    turn: Turn,
}

/// Where the request's session stands. The session is boxed: the layer moves it in and out
/// of the slot and holds it across its store calls, and moving 8 bytes keeps its future small (a
/// future over 1 KiB costs more to allocate and free than this box does).
pub(crate) enum Slot {
    /// Not loaded yet: by the layer before the handler runs, or, with `lazy_load`, by the
    /// first extractor.
    Loading,
    Active(Box<Session>),
    /// The store failed while loading; the handler gets no session.
    Unavailable(Arc<StoreError>),
    Destroyed,
    /// The layer has taken the session back at the end of the request.
    Finished,
    /// `unset()` was called on the session with this id.
    Unset(Unset, String),
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
            turn: Turn::default(),
        }))
    }

    /// A handle outside any request, on a new session: for the testing kit's unit-test
    /// sessions, which have no layer to load or save them.
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

    /// The request's turn on its session.
    pub(crate) fn turn(&self) -> &Turn {
        &self.0.turn
    }

    /// Loads the session the first time anyone asks: takes the request's turn on the session
    /// its cookie names, then opens it. The layer asks before the handler runs, unless
    /// `lazy_load` leaves it to the extractor.
    pub(crate) async fn ensure_loaded(&self) {
        self.0
            .loaded
            .get_or_init(|| async {
                let Shared {
                    config, request, ..
                } = &*self.0;
                let backend = &config.backend;
                // Requests without a session id need no turn: no other request knows the id
                // they will get.
                let turn = match &request.incoming.id {
                    Some(id) => self.0.turn.take(backend, id).await,
                    None => Ok(()),
                };
                let slot = match turn {
                    Ok(()) => self.open().await,
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
                    // The layer finished the request while this load waited (a task the
                    // handler spawned still extracting): the session stays ended, and the
                    // turn goes straight back.
                    drop(current);
                    self.0.turn.end(backend);
                }
            })
            .await;
    }

    /// The session the request starts with: the stored one its cookie names, else a new one.
    /// An unknown or expired id is never adopted: the new session gets a new id.
    async fn open(&self) -> Slot {
        let Shared {
            config, request, ..
        } = &*self.0;
        let now = SystemTime::now();
        match config.backend.load(&request.incoming, now).await {
            Loaded::Found(id, record) => {
                Slot::Active(Box::new(Session::loaded(id, record, config.resave)))
            }
            Loaded::Missing => Slot::Active(Box::new(new_session(config, request, now))),
            Loaded::Failed(error) => Slot::Unavailable(Arc::new(error)),
        }
    }

    /// Gives the store-side turn back, if the request still holds it.
    pub(crate) async fn release_store_turn(&self) {
        self.0.turn.give_back_lease(&self.0.config.backend).await;
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
        self.0.turn.end(&self.0.config.backend);
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

    /// The session's id; empty once the session has ended.
    pub(crate) fn id(&self) -> String {
        self.with_session(|_, s| s.id.clone()).unwrap_or_default()
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
        let write = change(full, owner, &changed);
        let backend = &self.0.config.backend;
        let in_response = self.0.request.in_response;
        match backend
            .save(&self.0.turn, &id, &record, write, in_response)
            .await?
        {
            Saved::InCookie => Ok(()),
            Saved::Stored => self.with_session(|_, s| {
                if s.id == id {
                    s.mark_saved(generation);
                }
            }),
        }
    }

    /// Replaces the session with the store's copy (express's `reload()`).
    pub(crate) async fn reload(&self) -> Result<(), SessionError> {
        let id = self.with_session(|_, s| s.id.clone())?;
        let record = self
            .0
            .config
            .backend
            .reload(&id, &self.0.request.incoming, self.0.request.in_response)
            .await?;
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
        self.0.config.backend.destroy(&id).await?;
        observe::count_one(DESTROYS);
        self.with_session(|shared, s| {
            let fresh = new_session(&shared.config, &shared.request, SystemTime::now());
            s.id = fresh.id;
            s.regenerated = true;
            s.is_new = true;
            s.record = fresh.record;
            s.log.reset();
            s.cookie_changed = false;
            s.saved_generation = None;
            s.full_write = true;
            s.stored = None;
        })
    }

    /// Gives the session a new id and keeps everything else: its data (every namespace's), its
    /// owner and its lifetime. A stored session is moved to the new id at once, and the old id
    /// is deleted, so nothing can write it back; one never stored only changes its id.
    pub(crate) async fn cycle_id(&self) -> Result<(), SessionError> {
        let (old, record, stored, generation) = self.with_session(|_, s| {
            s.record.cookie.touch(SystemTime::now());
            let stored = s.stored.is_some();
            (s.id.clone(), s.record.clone(), stored, s.log.generation())
        })?;
        let Shared {
            config, request, ..
        } = &*self.0;
        let new = new_id(config, request);
        let saved = match stored {
            true => Some(
                config
                    .backend
                    .move_to(&self.0.turn, &old, &new, &record)
                    .await?,
            ),
            false => None,
        };
        let applied = self.with_session(|_, s| {
            if s.id != old {
                // Another extractor of this request changed the id meanwhile; that stands.
                return false;
            }
            s.id.clone_from(&new);
            // The client must get the new id, and the old one is dead: same as a regenerate,
            // for the end-of-request decision (which a regenerate earlier in the request may
            // already have asked for).
            s.regenerated |= stored;
            if let Some(Saved::Stored) = saved {
                s.mark_saved(generation);
            }
            true
        });
        if !matches!(applied, Ok(true)) && matches!(saved, Some(Saved::Stored)) {
            // The session ended or changed its id meanwhile: the copy must not stay behind as
            // a live session nobody holds.
            if let Err(error) = config.backend.destroy(&new).await {
                tracing::error!(%error, "could not delete the copy of a session that ended meanwhile");
            }
        }
        applied.map(drop)
    }

    /// Deletes the session from the store; the request has no session afterwards.
    pub(crate) async fn destroy(&self) -> Result<(), SessionError> {
        let id = self.with_session(|_, s| s.id.clone())?;
        self.0.config.backend.destroy(&id).await?;
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
        Ok(self.0.config.backend.sessions_of(&owner).await?)
    }

    /// Deletes the other sessions of this session's owner ("log out other devices"), or all of
    /// them with this one (`keep_this: false`, after which the request has no session).
    /// Answers how many stored sessions were deleted.
    pub(crate) async fn destroy_owner_sessions(
        &self,
        keep_this: bool,
    ) -> Result<usize, SessionError> {
        let (owner, id) = self.with_session(|_, s| (s.record.owner.clone(), s.id.clone()))?;
        let backend = &self.0.config.backend;
        let destroyed = match owner {
            Some(owner) => {
                let keep = keep_this.then_some(id.as_str());
                backend.destroy_sessions_of(&owner, keep).await?
            }
            None => 0,
        };
        if !keep_this {
            // Also when the index did not list it yet (a login in this very request).
            backend.destroy(&id).await?;
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
