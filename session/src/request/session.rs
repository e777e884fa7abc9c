//! A live session and what has happened to it during the request: its id, record and change
//! log, whether the store holds it, and how a new one is made.

use std::collections::BTreeSet;
use std::time::SystemTime;

use super::RequestInfo;
use crate::config::Config;
use crate::cookie::{SameSite, Secure};
use crate::id::generate_id;
use crate::record::{CookieState, Record};
use crate::schema::ChangeLog;
use crate::store::Changed;

/// A live session and what has happened to it.
pub(crate) struct Session {
    pub(crate) id: String,
    pub(crate) record: Record,
    pub(crate) log: ChangeLog,
    /// Whether `regenerate` gave the session a new id during this request.
    pub(crate) regenerated: bool,
    /// Whether the session was created in this request (not loaded, or regenerated).
    pub(crate) is_new: bool,
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
    pub(crate) fn of(cookie: &CookieState) -> Self {
        Self {
            expires_ms: cookie.expires_ms,
            touched_ms: cookie.touched_ms,
        }
    }
}

/// The store write for a session: whole when it is new, else its unsaved fields, with the
/// owner when that changed.
pub(crate) fn change(
    full_write: bool,
    owner_changed: bool,
    fields: &BTreeSet<String>,
) -> Changed<'_> {
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
            is_new: false,
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
    Session {
        regenerated: false,
        is_new: true,
        id: new_id(config, request),
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

/// A new session id: the app's `genid`, when it has one and the request is at hand.
pub(crate) fn new_id(config: &Config, request: &RequestInfo) -> String {
    match (&config.genid, &request.parts) {
        (Some(genid), Some(parts)) => genid(parts),
        _ => generate_id(),
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
    if config.backend.keeps_cookie_attributes() {
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
