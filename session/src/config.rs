//! The middleware's options, with express-session's names and defaults.
//!
//! [`SessionLayer::builder`](crate::SessionLayer::builder) collects them; `build` checks them and
//! fails on a configuration error (no secret, a cookie name that is not a cookie token) instead
//! of letting a bad setting surface at request time.

use std::fmt;
use std::sync::Arc;
use std::time::{Duration, SystemTime};

use http::request::Parts;

use crate::cookie::{Priority, SameSite, Secure, Signer};
use crate::store::{DynStore, MemoryStore, Store};

/// Settings for the session-ID cookie (express's `cookie` option).
///
/// The default is express's: `Path=/`, `HttpOnly`, not `Secure`, no `SameSite`, no expiry
/// (a browser-session cookie).
///
/// ```
/// use std::time::Duration;
/// use sessionly::CookieOptions;
/// use sessionly::cookie::{SameSite, Secure};
///
/// let cookie = CookieOptions::new()
///     .max_age(Duration::from_secs(60 * 60))
///     .secure(Secure::Auto)
///     .same_site(SameSite::Lax);
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CookieOptions {
    pub(crate) domain: Option<String>,
    pub(crate) expiry: Expiry,
    pub(crate) http_only: bool,
    pub(crate) partitioned: bool,
    pub(crate) path: String,
    pub(crate) priority: Option<Priority>,
    pub(crate) same_site: Option<SameSite>,
    pub(crate) secure: Secure,
}

/// When a new session's cookie expires; `maxAge` and `expires` replace each other.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Expiry {
    Browser,
    MaxAge(Duration),
    At(SystemTime),
}

impl Default for CookieOptions {
    fn default() -> Self {
        Self {
            domain: None,
            expiry: Expiry::Browser,
            http_only: true,
            partitioned: false,
            path: "/".to_owned(),
            priority: None,
            same_site: None,
            secure: Secure::Never,
        }
    }
}

impl CookieOptions {
    /// express's defaults.
    pub fn new() -> Self {
        Self::default()
    }

    /// `Domain`; by default none, so the cookie is for the current host only.
    pub fn domain(mut self, domain: impl Into<String>) -> Self {
        self.domain = Some(domain.into());
        self
    }

    /// New sessions live this long (`maxAge`): the cookie's `Expires` is now + `max_age`, and
    /// each save, touch or rolling response restarts the countdown. Replaces [`expires`](Self::expires).
    pub fn max_age(mut self, max_age: Duration) -> Self {
        self.expiry = Expiry::MaxAge(max_age);
        self
    }

    /// New sessions expire at this instant; as in express, their lifetime is then the time
    /// left until it, restarted like a `maxAge` on later saves. Prefer [`max_age`](Self::max_age).
    pub fn expires(mut self, at: SystemTime) -> Self {
        self.expiry = Expiry::At(at);
        self
    }

    /// A browser-session cookie (no `Expires`), the default.
    pub fn browser_session(mut self) -> Self {
        self.expiry = Expiry::Browser;
        self
    }

    /// `HttpOnly` (default `true`).
    pub fn http_only(mut self, http_only: bool) -> Self {
        self.http_only = http_only;
        self
    }

    /// `Partitioned` (default `false`).
    pub fn partitioned(mut self, partitioned: bool) -> Self {
        self.partitioned = partitioned;
        self
    }

    /// `Path` (default `/`). A request whose path does not start with it gets no session.
    pub fn path(mut self, path: impl Into<String>) -> Self {
        self.path = path.into();
        self
    }

    /// `Priority` (default: not set).
    pub fn priority(mut self, priority: Priority) -> Self {
        self.priority = Some(priority);
        self
    }

    /// `SameSite` (default: not set, express's `false`).
    pub fn same_site(mut self, same_site: SameSite) -> Self {
        self.same_site = Some(same_site);
        self
    }

    /// Leaves `SameSite` unset (express's `sameSite: false`).
    pub fn no_same_site(mut self) -> Self {
        self.same_site = None;
        self
    }

    /// `Secure` (default [`Secure::Never`]). A `Secure` cookie is not sent over an insecure
    /// connection, as in express.
    pub fn secure(mut self, secure: Secure) -> Self {
        self.secure = secure;
        self
    }

    /// What browsers would refuse or shorten in the cookie these options make under the
    /// cookie name `name`, whatever the connection: `SameSite=None` or `Partitioned` without
    /// `Secure`, a misused `__Host-` or `__Secure-` name, a `Domain` that is not a host name, a
    /// lifetime over 400 days. [`build`](SessionLayerBuilder::build) logs each as a warning;
    /// call it yourself to check options a [`cookie_with`](SessionLayerBuilder::cookie_with)
    /// function makes. A setting that only fails on plain HTTP (`Secure::Auto` with
    /// `SameSite=None`) and a `Domain` that does not match the request's host are not found
    /// here: the browser drops those cookies silently. The README's table lists what Chromium
    /// does with each attribute.
    ///
    /// ```
    /// use sessionly::CookieOptions;
    /// use sessionly::cookie::{CookieWarning, SameSite, Secure};
    ///
    /// let cross_site = CookieOptions::new().same_site(SameSite::None);
    /// assert_eq!(
    ///     cross_site.browser_warnings("connect.sid"),
    ///     [CookieWarning::SameSiteNoneWithoutSecure]
    /// );
    /// assert!(cross_site.secure(Secure::Always).browser_warnings("connect.sid").is_empty());
    /// ```
    pub fn browser_warnings(&self, name: &str) -> Vec<crate::cookie::CookieWarning> {
        crate::cookie::browser_warnings(name, self, SystemTime::now())
    }

    /// The lifetime of a session created now.
    /// The fixed expiry date of the `expires` option, if that is how new sessions expire.
    pub(crate) fn fixed_expiry(&self) -> Option<SystemTime> {
        match self.expiry {
            Expiry::At(at) => Some(at),
            _ => None,
        }
    }

    pub(crate) fn max_age_from(&self, now: SystemTime) -> Option<Duration> {
        match self.expiry {
            Expiry::Browser => None,
            Expiry::MaxAge(age) => Some(age),
            Expiry::At(at) => Some(at.duration_since(now).unwrap_or(Duration::ZERO)),
        }
    }
}

/// What `unset` does (express's `unset` option); see
/// [`TypedSession::unset`](crate::TypedSession::unset).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Unset {
    /// Keep the stored session; drop this request's changes (the default).
    #[default]
    Keep,
    /// Delete the stored session when the response is sent.
    Destroy,
}

/// Computes cookie options per request.
pub(crate) type CookieFn = dyn Fn(&Parts) -> CookieOptions + Send + Sync;
/// Generates session ids.
pub(crate) type GenId = dyn Fn(&Parts) -> String + Send + Sync;

/// The session cookie's settings: the layer's own, unless a function computes them per request.
#[derive(Default)]
pub(crate) struct CookieSource {
    pub(crate) fixed: CookieOptions,
    pub(crate) per_request: Option<Arc<CookieFn>>,
}

/// The checked options the middleware runs with.
pub(crate) struct Config {
    pub(crate) name: String,
    pub(crate) signer: Signer,
    pub(crate) store: Arc<dyn DynStore>,
    pub(crate) cookie: CookieSource,
    pub(crate) genid: Option<Arc<GenId>>,
    pub(crate) proxy: Option<bool>,
    pub(crate) resave: bool,
    pub(crate) rolling: bool,
    pub(crate) save_uninitialized: bool,
    pub(crate) unset: Unset,
    pub(crate) save_on_error: bool,
    pub(crate) absolute_lifetime: Option<Duration>,
    /// The store's idle TTL for browser-session cookies, if it has one.
    pub(crate) store_idle_ttl: Option<Duration>,
    /// Same-session requests take turns through the store, across processes.
    pub(crate) store_turns: Option<StoreTurns>,
    /// Per-session request locks; `None` when `lock_sessions(false)`.
    pub(crate) locks: Option<Arc<crate::middleware::Locks>>,
    /// Load the session only when a handler extracts it.
    pub(crate) lazy_load: bool,
    /// The largest [`Record::encoded_size`](crate::Record::encoded_size) saved or loaded.
    pub(crate) max_session_size: usize,
    /// The schemas extracted under this layer, checked for conflicts.
    pub(crate) schemas: crate::schema::Schemas,
    /// Set when the store is a `CookieStore`: sessions are sealed into their cookies instead
    /// of kept in the store.
    pub(crate) sealer: Option<crate::store::sealed::Sealer>,
}

impl fmt::Debug for Config {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Config")
            .field("name", &self.name)
            .field("signer", &self.signer)
            .field("proxy", &self.proxy)
            .field("resave", &self.resave)
            .field("rolling", &self.rolling)
            .field("save_uninitialized", &self.save_uninitialized)
            .field("unset", &self.unset)
            .field("lock_sessions", &self.locks.is_some())
            .field("lazy_load", &self.lazy_load)
            .field("absolute_lifetime", &self.absolute_lifetime)
            .field("max_session_size", &self.max_session_size)
            .field("sessions_in_cookies", &self.sealer.is_some())
            .finish_non_exhaustive()
    }
}

/// A configuration the middleware cannot run with.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum ConfigError {
    /// `secret` was not given or was an empty list.
    #[error("a session secret is required: give at least one with `secret` or `secrets`")]
    NoSecret,
    /// The cookie name is empty or holds characters a cookie name cannot.
    #[error("`{0}` is not a valid cookie name")]
    InvalidName(String),
    /// [`store_turns`](SessionLayerBuilder::store_turns) was asked of a store that has no
    /// store-side turn ([`Store::has_leases`](crate::Store::has_leases)).
    #[error(
        "the session store has no store-side turn (`store_turns`); see the README for the stores that do"
    )]
    StoreTurnsUnsupported,
}

/// How same-session requests take turns through the store, across processes: see
/// [`SessionLayerBuilder::store_turns`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct StoreTurns {
    pub(crate) lease: Duration,
    pub(crate) wait: Duration,
}

impl Default for StoreTurns {
    fn default() -> Self {
        Self::new()
    }
}

impl StoreTurns {
    /// A lease of 10 s and a wait of at most 5 s.
    pub fn new() -> Self {
        Self {
            lease: Duration::from_secs(10),
            wait: Duration::from_secs(5),
        }
    }

    /// How long a request holds the turn at most (default 10 s): a process that dies holding
    /// it blocks its session this long, no longer; a request still running after it can no
    /// longer write (its save answers a `503`). Longer than your slowest request.
    pub fn lease(mut self, lease: Duration) -> Self {
        self.lease = lease;
        self
    }

    /// How long a request waits for the turn before it gives up with a `503` (default 5 s).
    pub fn wait(mut self, wait: Duration) -> Self {
        self.wait = wait;
        self
    }
}

/// Builds a [`SessionLayer`](crate::SessionLayer); see each option for its default.
#[must_use]
pub struct SessionLayerBuilder {
    name: String,
    secrets: Vec<Vec<u8>>,
    store: Option<Arc<dyn DynStore>>,
    cookie: CookieSource,
    genid: Option<Arc<GenId>>,
    proxy: Option<bool>,
    resave: bool,
    rolling: bool,
    save_uninitialized: bool,
    unset: Unset,
    lock_sessions: bool,
    store_turns: Option<StoreTurns>,
    lazy_load: bool,
    save_on_error: bool,
    absolute_lifetime: Option<Duration>,
    max_session_size: usize,
}

/// The default of [`SessionLayerBuilder::max_session_size`]: 64 KiB.
pub const DEFAULT_MAX_SESSION_SIZE: usize = 64 * 1024;

impl Default for SessionLayerBuilder {
    fn default() -> Self {
        Self {
            name: "connect.sid".to_owned(),
            secrets: Vec::new(),
            store: None,
            cookie: CookieSource::default(),
            genid: None,
            proxy: None,
            resave: false,
            rolling: false,
            save_uninitialized: false,
            unset: Unset::Keep,
            lock_sessions: true,
            store_turns: None,
            lazy_load: false,
            save_on_error: false,
            absolute_lifetime: None,
            max_session_size: DEFAULT_MAX_SESSION_SIZE,
        }
    }
}

impl SessionLayerBuilder {
    /// Adds a secret. The first secret given signs new cookies; every secret verifies, so a
    /// rotation puts the new secret first and keeps the old ones after it. Required.
    pub fn secret(mut self, secret: impl AsRef<[u8]>) -> Self {
        self.secrets.push(secret.as_ref().to_vec());
        self
    }

    /// Replaces the secrets with a list: the first signs, all verify. An empty list is a
    /// configuration error.
    pub fn secrets<I: IntoIterator<Item = S>, S: AsRef<[u8]>>(mut self, secrets: I) -> Self {
        self.secrets = secrets.into_iter().map(|s| s.as_ref().to_vec()).collect();
        self
    }

    /// The cookie name (default `connect.sid`).
    pub fn name(mut self, name: impl Into<String>) -> Self {
        self.name = name.into();
        self
    }

    /// Where sessions are kept (default: a new [`MemoryStore`]).
    pub fn store(mut self, store: impl Store) -> Self {
        self.store = Some(Arc::new(store));
        self
    }

    /// The session cookie's settings.
    pub fn cookie(mut self, cookie: CookieOptions) -> Self {
        self.cookie = CookieSource {
            fixed: cookie,
            per_request: None,
        };
        self
    }

    /// Computes the cookie settings for each request, like express's `cookie` function.
    pub fn cookie_with(
        mut self,
        cookie: impl Fn(&Parts) -> CookieOptions + Send + Sync + 'static,
    ) -> Self {
        self.cookie.per_request = Some(Arc::new(cookie));
        self
    }

    /// Generates new session ids (default: [`generate_id`](crate::generate_id), 192 random
    /// bits). The function sees the request's method, URI and headers. Ids must be unique and
    /// unguessable; the cookie is signed either way.
    pub fn genid(mut self, genid: impl Fn(&Parts) -> String + Send + Sync + 'static) -> Self {
        self.genid = Some(Arc::new(genid));
        self
    }

    /// Whether to trust `X-Forwarded-Proto` when deciding if a request is secure.
    ///
    /// - `true`: a direct TLS connection or `X-Forwarded-Proto: https` (its first value).
    /// - `false`: only a direct TLS connection ([`DirectTls`](crate::DirectTls), or an
    ///   `https` request URI).
    /// - not called (default): the app's own notion, [`AppSecure`](crate::AppSecure), else as
    ///   `false`.
    pub fn proxy(mut self, trust: bool) -> Self {
        self.proxy = Some(trust);
        self
    }

    /// Save unmodified sessions back at the end of every request (default `false`: every store
    /// of this crate implements `touch`, which keeps an unmodified session alive without
    /// rewriting it). express-session defaults to `true` and deprecates that default; set
    /// `true` for a custom store without `touch`.
    pub fn resave(mut self, resave: bool) -> Self {
        self.resave = resave;
        self
    }

    /// Send the cookie on every response that has a loaded session, restarting its expiry
    /// (default `false`).
    pub fn rolling(mut self, rolling: bool) -> Self {
        self.rolling = rolling;
        self
    }

    /// Save new sessions that nothing was written to (default `false`: a visitor gets a stored
    /// session, and a cookie, only once something is written to it, so a health check or a
    /// crawler stores nothing). express-session defaults to `true` and deprecates that default;
    /// set `true` for express's behaviour (e.g. to track visitors before they log in).
    pub fn save_uninitialized(mut self, save: bool) -> Self {
        self.save_uninitialized = save;
        self
    }

    /// What [`TypedSession::unset`](crate::TypedSession::unset) does (default [`Unset::Keep`]).
    pub fn unset(mut self, unset: Unset) -> Self {
        self.unset = unset;
        self
    }

    /// Runs the requests that carry the same session one at a time, in this process (default
    /// `true`; not an express option). A request waits, before loading, until the others with
    /// its session id have saved, so a read-change-write of a field never overwrites another
    /// request's change. The cost: a handler that holds a request long (a long poll) delays
    /// that client's other requests. Requests without a session cookie never wait. Across
    /// several processes sharing a store, concurrent writes to *different* fields still both
    /// survive (stores write changed fields only); writes to the same field are last-writer-wins.
    pub fn lock_sessions(mut self, lock: bool) -> Self {
        self.lock_sessions = lock;
        self
    }

    /// Makes requests that carry the same session take turns across every process sharing the
    /// store, through the store itself (default: off; not an express option). `lock_sessions`
    /// orders them within one process; this orders them behind a load balancer too, so two
    /// servers incrementing one counter (a double-clicked "add to cart") lose neither change.
    ///
    /// Before loading, a request takes the session's lease in the store (waiting, with short
    /// backoff, at most [`StoreTurns::wait`], then a `503`); its save checks that the lease is
    /// still its own and gives it back in the same step, so a request that outlived its lease
    /// ([`StoreTurns::lease`]) cannot overwrite a newer write. A request whose session is not
    /// changed gives the turn back with one more store call. The cost on Redis: one more round
    /// trip per request that loads a session (the `SET NX` of the lease), and the save becomes
    /// a script. Only requests that load a session take part: with
    /// [`lazy_load`](SessionLayerBuilder::lazy_load), those whose handler extracts it.
    ///
    /// The store must have the turn ([`Store::has_leases`](crate::Store::has_leases):
    /// `RedisStore`, single node or Cluster, `PostgresStore` and `MySqlStore`, whose save
    /// under the turn is a transaction of five round trips); with any other,
    /// [`build`](Self::build) answers [`ConfigError::StoreTurnsUnsupported`].
    pub fn store_turns(mut self, turns: StoreTurns) -> Self {
        self.store_turns = Some(turns);
        self
    }

    /// Loads the session only when a handler extracts it (default `false`: like express,
    /// every request that carries a session cookie loads its session before the handler runs).
    ///
    /// With `true`, a request whose handler never extracts a
    /// [`TypedSession`](crate::TypedSession) — a static file, a health check — costs no store
    /// call and gets no cookie: `resave`, `rolling`, `save_uninitialized` and the end-of-request
    /// touch apply only to requests that extract the session, so only those keep an idle
    /// session alive, and with `lock_sessions` only those take turns. A request that extracts
    /// it waits for its turn and loads the session at the extraction instead of on arrival;
    /// from there on it is handled as without this option.
    pub fn lazy_load(mut self, lazy: bool) -> Self {
        self.lazy_load = lazy;
        self
    }

    /// Save the session and send its cookie even when the response is a server error (5xx)
    /// (default `false`; express always saves). A handler that fails partway may leave half a
    /// change in the session, so by default such a response leaves the store as it was.
    /// Explicit `save`, `regenerate` and `destroy` calls are carried out either way.
    pub fn save_on_error(mut self, save: bool) -> Self {
        self.save_on_error = save;
        self
    }

    /// Ends every new session this long after its creation, however active it stays (default:
    /// no limit; not an express option). The idle lifetime (the cookie's `max_age`, restarted
    /// by each request, or the store's idle TTL for a browser-session cookie) still applies: a
    /// session ends at whichever comes first, and the cookie's `Expires` never goes past this
    /// limit. The limit is stored with each session and enforced by the store; one session can
    /// be given another with
    /// [`TypedSession::set_absolute_lifetime`](crate::TypedSession::set_absolute_lifetime)
    /// ("remember me"). Changing this option leaves sessions created before as they are.
    ///
    /// ```
    /// use std::time::Duration;
    /// use sessionly::{CookieOptions, SessionLayer};
    ///
    /// // Signed out after 30 idle minutes, and after 12 hours in any case.
    /// let layer = SessionLayer::builder()
    ///     .secret("a long random secret")
    ///     .cookie(CookieOptions::new().max_age(Duration::from_secs(30 * 60)))
    ///     .rolling(true)
    ///     .absolute_lifetime(Duration::from_secs(12 * 60 * 60))
    ///     .build()
    ///     .unwrap();
    /// ```
    pub fn absolute_lifetime(mut self, lifetime: Duration) -> Self {
        self.absolute_lifetime = Some(lifetime);
        self
    }

    /// The largest session the layer saves or loads, counted as
    /// [`Record::encoded_size`](crate::Record::encoded_size) (the encoded fields with their
    /// names, and the owner; default [`DEFAULT_MAX_SESSION_SIZE`], 64 KiB; not an express
    /// option). A save of a larger session writes nothing, so the stored session stays as it
    /// was: the handler's [`save`](crate::TypedSession::save) answers
    /// [`SessionError::TooLarge`](crate::SessionError::TooLarge), and the end-of-request save
    /// turns the response into a `500` (logged). A stored session larger than this is not
    /// handed to the handler: it is logged and treated as missing, so the request gets a new
    /// session. `usize::MAX` turns the limit off.
    pub fn max_session_size(mut self, bytes: usize) -> Self {
        self.max_session_size = bytes;
        self
    }

    /// Checks the options.
    pub fn build(self) -> Result<crate::SessionLayer, ConfigError> {
        let signer = Signer::new(&self.secrets).ok_or(ConfigError::NoSecret)?;
        if self.name.is_empty() || !self.name.bytes().all(is_token_char) {
            return Err(ConfigError::InvalidName(self.name));
        }
        let store = self.store.unwrap_or_else(|| Arc::new(MemoryStore::new()));
        if self.store_turns.is_some() && !store.has_leases() {
            return Err(ConfigError::StoreTurnsUnsupported);
        }
        if self.cookie.per_request.is_none() {
            for warning in self.cookie.fixed.browser_warnings(&self.name) {
                tracing::warn!(cookie = %self.name, "{warning}");
            }
        }
        let sealer = sealer(&*store, &self.secrets, &self.name);
        let config = Config {
            sealer,
            name: self.name,
            signer,
            store_idle_ttl: store.idle_ttl(),
            store,
            cookie: self.cookie,
            genid: self.genid,
            proxy: self.proxy,
            resave: self.resave,
            rolling: self.rolling,
            save_uninitialized: self.save_uninitialized,
            unset: self.unset,
            save_on_error: self.save_on_error,
            absolute_lifetime: self.absolute_lifetime,
            locks: self.lock_sessions.then(Default::default),
            store_turns: self.store_turns,
            lazy_load: self.lazy_load,
            max_session_size: self.max_session_size,
            schemas: Default::default(),
        };
        Ok(crate::SessionLayer::from_config(config))
    }
}

/// A sealer for the layer's cookies when its store is a [`CookieStore`](crate::CookieStore).
#[cfg(feature = "cookie-store")]
fn sealer(
    store: &dyn DynStore,
    secrets: &[Vec<u8>],
    name: &str,
) -> Option<crate::store::sealed::Sealer> {
    let cookie_store = store.as_any().downcast_ref::<crate::CookieStore>()?;
    Some(crate::store::sealed::Sealer::new(
        secrets,
        name,
        cookie_store,
    ))
}

#[cfg(not(feature = "cookie-store"))]
fn sealer(_: &dyn DynStore, _: &[Vec<u8>], _: &str) -> Option<crate::store::sealed::Sealer> {
    None
}

/// RFC 7230 `tchar`: what a cookie name may hold.
fn is_token_char(b: u8) -> bool {
    b.is_ascii_alphanumeric() || b"!#$%&'*+-.^_`|~".contains(&b)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn secrets_are_required() {
        let missing = SessionLayerBuilder::default().build().unwrap_err();
        assert_eq!(missing, ConfigError::NoSecret);
        let empty = SessionLayerBuilder::default()
            .secrets(Vec::<String>::new())
            .build()
            .unwrap_err();
        assert_eq!(empty, ConfigError::NoSecret);
    }

    #[test]
    fn cookie_names_must_be_tokens() {
        for bad in ["", "a b", "a;b", "a=b", "é"] {
            let err = SessionLayerBuilder::default()
                .secret("s")
                .name(bad)
                .build()
                .unwrap_err();
            assert_eq!(err, ConfigError::InvalidName(bad.to_owned()));
        }
    }

    #[test]
    fn max_age_and_expires_replace_each_other() {
        let now = SystemTime::UNIX_EPOCH + Duration::from_secs(100);
        let in_ten = now + Duration::from_secs(10);
        let options = CookieOptions::new()
            .max_age(Duration::from_secs(5))
            .expires(in_ten);
        assert_eq!(options.max_age_from(now), Some(Duration::from_secs(10)));
        let options = options.max_age(Duration::from_secs(5));
        assert_eq!(options.max_age_from(now), Some(Duration::from_secs(5)));
        assert_eq!(CookieOptions::new().max_age_from(now), None);
    }
}
