//! The axum extractor [`TypedSession<T>`]: the handler's typed view of its session.

use std::ops::{Deref, DerefMut};
use std::time::{Duration, SystemTime};

use std::convert::Infallible;

use axum::extract::{FromRequestParts, OptionalFromRequestParts};
use http::request::Parts;

use super::{Handle, OutsidePath};
use crate::error::SessionError;
use crate::record::{CookieOverrides, CookieState, Record};
use crate::schema::{SessionData, Tracked};

/// The request's session, with data of type `T`.
///
/// It dereferences to the accessors `#[derive(SessionData)]` generated for `T`
/// (`field()`, `set_field(..)`, `field_mut()`, `take_field()`, `reset_field()`), which are the
/// only way to change the data, so every change is seen. Changes are handed to the middleware
/// when the extractor is dropped (at the latest when the handler returns) or when
/// [`save`](Self::save) is called.
///
/// Extraction fails — with a response the app can return as is — when the route has no
/// [`SessionLayer`](crate::SessionLayer), when the request is outside the cookie path, when the
/// store could not be reached while loading, or after `destroy`/`unset`.
pub struct TypedSession<T: SessionData> {
    tracked: T::Tracked,
    handle: Handle,
}

impl<T: SessionData> TypedSession<T> {
    /// Hands this extractor's changes to the session, and answers its handle.
    pub(crate) fn handle_flushed(&mut self) -> &Handle {
        self.handle.flush(&mut self.tracked);
        &self.handle
    }

    /// The view of `handle`'s session through `tracked`.
    #[cfg(feature = "testing")]
    pub(crate) fn from_parts(tracked: T::Tracked, handle: Handle) -> Self {
        Self { tracked, handle }
    }
}

impl<T: SessionData, S: Send + Sync> FromRequestParts<S> for TypedSession<T> {
    type Rejection = SessionError;

    async fn from_request_parts(parts: &mut Parts, _state: &S) -> Result<Self, Self::Rejection> {
        let Some(handle) = parts.extensions.get::<Handle>().cloned() else {
            return Err(match parts.extensions.get::<OutsidePath>() {
                Some(OutsidePath(path)) => SessionError::OutsidePath(path.clone()),
                None => SessionError::MissingLayer,
            });
        };
        handle.config().schemas.check::<T::Tracked>()?;
        handle.ensure_loaded().await;
        Ok(Self {
            tracked: handle.load()?,
            handle,
        })
    }
}

/// How the request's session travels (see [`Carrier`](crate::Carrier)), for handlers and
/// layers that need to know without loading the session: a CSRF check, for one.
impl<S: Send + Sync> FromRequestParts<S> for crate::Carrier {
    type Rejection = SessionError;

    async fn from_request_parts(parts: &mut Parts, _state: &S) -> Result<Self, Self::Rejection> {
        match parts.extensions.get::<Handle>() {
            Some(handle) => Ok(handle.shared().request.carrier),
            None => Err(match parts.extensions.get::<OutsidePath>() {
                Some(OutsidePath(path)) => SessionError::OutsidePath(path.clone()),
                None => SessionError::MissingLayer,
            }),
        }
    }
}

/// `Option<TypedSession<T>>` is `None` where `TypedSession<T>` would be rejected, for handlers
/// that can do without a session (for example while the store is down).
impl<T: SessionData, S: Send + Sync> OptionalFromRequestParts<S> for TypedSession<T> {
    type Rejection = Infallible;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Option<Self>, Infallible> {
        Ok(
            <Self as FromRequestParts<S>>::from_request_parts(parts, state)
                .await
                .ok(),
        )
    }
}

impl<T: SessionData> Deref for TypedSession<T> {
    type Target = T::Tracked;

    fn deref(&self) -> &T::Tracked {
        &self.tracked
    }
}

impl<T: SessionData> DerefMut for TypedSession<T> {
    fn deref_mut(&mut self) -> &mut T::Tracked {
        &mut self.tracked
    }
}

impl<T: SessionData> Drop for TypedSession<T> {
    fn drop(&mut self) {
        self.handle.flush(&mut self.tracked);
    }
}

impl<T: SessionData> TypedSession<T> {
    /// The session id (`req.session.id`). It changes on [`regenerate`](Self::regenerate) and
    /// [`cycle_id`](Self::cycle_id).
    pub fn id(&self) -> String {
        self.handle.id()
    }

    /// The token that names this session now: what a token header hands out, and the value of
    /// its cookie (see [`Transport`](crate::Transport)). For an API that returns the token in
    /// its login response's body, after [`cycle_id`](Self::cycle_id) or
    /// [`regenerate`](Self::regenerate). `None` for a [`CookieStore`](crate::CookieStore)
    /// session, whose token is the session itself, sealed only when the request ends.
    ///
    /// A token is a credential: hand it only to the client it belongs to, and never log it.
    pub fn session_token(&self) -> Option<String> {
        let backend = &self.handle.config().backend;
        (!backend.in_cookies()).then(|| backend.signer().sign(&self.handle.id()))
    }

    /// Whether the session is new in this request: the request brought no cookie, or one
    /// naming no live session, or the handler called [`regenerate`](Self::regenerate). It
    /// stays so until the request ends, saved or not.
    ///
    /// Code that writes on every request — a library's audit counter, a "last seen" time —
    /// checks it to leave new sessions alone, so an anonymous visit still stores nothing (with
    /// `save_uninitialized(false)`, the default) until the app itself writes to the session.
    ///
    /// ```
    /// use sessionly::{SessionData, TypedSession};
    ///
    /// #[derive(SessionData)]
    /// #[session(namespace = "audit")]
    /// struct Audit {
    ///     requests: u64,
    /// }
    ///
    /// async fn count_request(mut audit: TypedSession<Audit>) {
    ///     if !audit.is_new() {
    ///         *audit.requests_mut() += 1;
    ///     }
    /// }
    /// ```
    pub fn is_new(&self) -> bool {
        self.handle.with_session(|_, s| s.is_new).unwrap_or(false)
    }

    /// The data as your struct, read-only. Fields are decoded on first access, so this
    /// decodes every field no accessor has read yet (and takes `&mut self` to keep them);
    /// prefer the field accessors where a request needs only some fields.
    ///
    /// To change a field `f`, call `set_f(..)` or `f_mut()` (rustc's "cannot assign to data in
    /// a `&` reference" means a change was tried through this): the accessors mark the field
    /// changed, so it is saved.
    pub fn data(&mut self) -> &T {
        self.tracked.data()
    }

    /// Writes the session to the store now (express's `save()`). The end-of-request save then
    /// happens only if the session changes again.
    pub async fn save(&mut self) -> Result<(), SessionError> {
        self.handle.flush(&mut self.tracked);
        self.handle.save().await
    }

    /// Replaces the data with the store's copy, dropping unsaved changes (express's
    /// `reload()`). Fails with [`SessionError::NotFound`] if the store no longer has it.
    pub async fn reload(&mut self) -> Result<(), SessionError> {
        self.handle.reload().await?;
        self.tracked = self.handle.load()?;
        Ok(())
    }

    /// Gives the session a new id and keeps its data — every schema's fields, libraries'
    /// namespaces included — its owner and its lifetime; the old id is deleted from the store,
    /// and no request still holding it can write it back. This is what a login wants: an id
    /// an attacker planted or saw before the login is worthless after it, and the visitor's
    /// cart survives.
    ///
    /// A session the store already holds is moved to the new id at once (one write, one
    /// delete); if either fails, the session keeps its old id and the error is returned. A
    /// session never stored (a first visit) just changes its id. With the cookie store, the
    /// response's cookie carries the new id; the old cookie stays valid until it expires, as
    /// every cookie of that store does.
    ///
    /// Use [`regenerate`](Self::regenerate) instead where the session must start empty (a
    /// shared computer's next user, or express's exact behaviour).
    ///
    /// ```
    /// use sessionly::{SessionData, SessionError, TypedSession};
    ///
    /// #[derive(SessionData)]
    /// struct Shop {
    ///     cart: Vec<u32>,
    ///     #[session(owner)]
    ///     user: Option<String>,
    /// }
    ///
    /// async fn log_in(mut session: TypedSession<Shop>) -> Result<String, SessionError> {
    ///     // ... check the password ...
    ///     session.cycle_id().await?;
    ///     session.set_user(Some("ada".into()));
    ///     Ok(format!("welcome back; {} items in your cart", session.cart().len()))
    /// }
    /// ```
    pub async fn cycle_id(&mut self) -> Result<(), SessionError> {
        self.handle.flush(&mut self.tracked);
        self.handle.cycle_id().await
    }

    /// Deletes the session from the store and continues with a new, empty one under a new id
    /// (express's `regenerate()`): every field is back to its default, other schemas' and
    /// libraries' namespaces included, and the session gets a fresh lifetime. To keep the
    /// data across a login, use [`cycle_id`](Self::cycle_id).
    pub async fn regenerate(&mut self) -> Result<(), SessionError> {
        self.handle.regenerate().await?;
        self.tracked = self.handle.load()?;
        Ok(())
    }

    /// Deletes the session from the store (express's `destroy()`); the response clears the
    /// client's cookie.
    pub async fn destroy(self) -> Result<(), SessionError> {
        self.handle.destroy().await
    }

    /// Drops the session from this request (express's `req.session = null`): with
    /// [`Unset::Keep`](crate::Unset::Keep) the stored session stays as it was and this
    /// request's changes are discarded; with [`Unset::Destroy`](crate::Unset::Destroy) it is
    /// deleted when the response is sent.
    pub fn unset(self) {
        self.handle.unset();
    }

    /// Restarts the expiry countdown from now (express's `touch()`); the middleware does this
    /// itself at the end of each request.
    pub fn touch(&mut self) {
        let _ = self
            .handle
            .with_session(|_, s| s.record.cookie.touch(SystemTime::now()));
    }

    /// The lifetime left (express's `cookie.maxAge`); `None` for a browser-session cookie.
    pub fn max_age(&self) -> Option<Duration> {
        self.handle
            .with_session(|_, s| s.record.cookie.max_age(SystemTime::now()))
            .ok()
            .flatten()
    }

    /// The lifetime the session was given (express's `cookie.originalMaxAge`).
    pub fn original_max_age(&self) -> Option<Duration> {
        self.handle
            .with_session(|_, s| s.record.cookie.original_max_age())
            .ok()
            .flatten()
    }

    /// When the session expires (express's `cookie.expires`).
    pub fn expires(&self) -> Option<SystemTime> {
        self.handle
            .with_session(|_, s| s.record.cookie.expires())
            .ok()
            .flatten()
    }

    /// Gives this session its own lifetime from now on — "remember me" — or, with `None`,
    /// makes its cookie a browser-session cookie. The session is saved and its cookie resent,
    /// unless it already had this lifetime.
    pub fn set_max_age(&mut self, max_age: Option<Duration>) {
        self.change_cookie(
            |cookie| cookie.has_max_age(max_age),
            |cookie| cookie.set_max_age(max_age, SystemTime::now()),
        );
    }

    /// Makes this session expire at `expires` (or, with `None`, at the end of the browser
    /// session); later touches keep the lifetime this gives. `None` on a session that already
    /// has a browser-session cookie changes nothing; a time always counts as a change (it
    /// also sets the lifetime later touches restart from).
    pub fn set_expires(&mut self, expires: Option<SystemTime>) {
        self.change_cookie(
            |cookie| cookie.has_expiry(expires),
            |cookie| cookie.set_expires(expires, SystemTime::now()),
        );
    }

    /// When the session was created.
    pub fn created(&self) -> Option<SystemTime> {
        self.handle
            .with_session(|_, s| s.record.cookie.created())
            .ok()
    }

    /// When the session ends however active it stays, if it has an absolute lifetime (see
    /// [`SessionLayerBuilder::absolute_lifetime`](crate::SessionLayerBuilder::absolute_lifetime)).
    pub fn absolute_expiry(&self) -> Option<SystemTime> {
        self.handle
            .with_session(|_, s| s.record.cookie.absolute_expiry())
            .ok()
            .flatten()
    }

    /// Gives this session its own absolute lifetime, counted from its creation (`None`: no
    /// limit), and restarts its idle countdown under it. With
    /// [`set_max_age`](Self::set_max_age) this is "remember me": raise both, in either order.
    /// The session is saved and its cookie resent, unless the limit stays as it was.
    ///
    /// ```
    /// use std::time::Duration;
    /// use sessionly::{SessionData, TypedSession};
    ///
    /// #[derive(SessionData)]
    /// struct Account {
    ///     user_id: Option<u64>,
    /// }
    ///
    /// const DAY: Duration = Duration::from_secs(24 * 60 * 60);
    ///
    /// async fn log_in(mut session: TypedSession<Account>, remember_me: bool) {
    ///     session.regenerate().await.unwrap();
    ///     session.set_user_id(Some(7));
    ///     if remember_me {
    ///         // Idle for up to 30 days, and 90 days at most.
    ///         session.set_max_age(Some(30 * DAY));
    ///         session.set_absolute_lifetime(Some(90 * DAY));
    ///     }
    /// }
    /// ```
    pub fn set_absolute_lifetime(&mut self, lifetime: Option<Duration>) {
        self.change_cookie(
            |cookie| cookie.has_absolute_lifetime(lifetime),
            |cookie| cookie.set_absolute_lifetime(lifetime, SystemTime::now()),
        );
    }

    /// The live sessions of this session's owner (the field marked `#[session(owner)]`), this
    /// one included once it is stored, as `(id, record)` pairs; none when it has no owner.
    /// Needs a store with a per-owner index. The ids are as secret as the cookies that carry
    /// them: show a user their sessions, never the ids.
    pub async fn owner_sessions(&mut self) -> Result<Vec<(String, Record)>, SessionError> {
        self.handle.flush(&mut self.tracked);
        self.handle.owner_sessions().await
    }

    /// Deletes every other session of this session's owner — "log out other devices" — and
    /// answers how many. This session stays. A request of another device that loaded its
    /// session before this call cannot write it back afterwards.
    ///
    /// ```
    /// use sessionly::{SessionData, SessionError, TypedSession};
    ///
    /// #[derive(SessionData)]
    /// struct Account {
    ///     #[session(owner)]
    ///     user_id: Option<u64>,
    /// }
    ///
    /// async fn log_out_other_devices(
    ///     mut session: TypedSession<Account>,
    /// ) -> Result<String, SessionError> {
    ///     let count = session.destroy_other_sessions().await?;
    ///     Ok(format!("signed out of {count} other sessions"))
    /// }
    /// ```
    pub async fn destroy_other_sessions(&mut self) -> Result<usize, SessionError> {
        self.handle.flush(&mut self.tracked);
        self.handle.destroy_owner_sessions(true).await
    }

    /// Deletes every session of this session's owner, this one included — "log out
    /// everywhere" — and answers how many of them were stored. The response clears this
    /// client's cookie.
    pub async fn destroy_all_sessions(mut self) -> Result<usize, SessionError> {
        self.handle.flush(&mut self.tracked);
        self.handle.destroy_owner_sessions(false).await
    }

    /// The cookie attributes this session overrides.
    pub fn cookie_overrides(&self) -> CookieOverrides {
        self.handle
            .with_session(|_, s| s.record.cookie.overrides.clone())
            .unwrap_or_default()
    }

    /// Sets cookie attributes for this session only (express's `req.session.cookie.domain =
    /// ...`); stored with the session, sent from this response on (if they differ from the
    /// ones it had).
    pub fn set_cookie_overrides(&mut self, overrides: CookieOverrides) {
        let same = overrides.clone();
        self.change_cookie(
            move |cookie| cookie.overrides == same,
            |cookie| cookie.overrides = overrides,
        );
    }

    /// Changes the session's cookie state, unless `same` says the change would leave it as it
    /// is: a setting set to what it already was is not a change to save or resend.
    fn change_cookie(
        &mut self,
        same: impl FnOnce(&CookieState) -> bool,
        change: impl FnOnce(&mut CookieState),
    ) {
        let _ = self.handle.with_session(|_, s| {
            if same(&s.record.cookie) {
                return;
            }
            change(&mut s.record.cookie);
            s.cookie_changed = true;
            s.log.bump();
        });
    }
}
