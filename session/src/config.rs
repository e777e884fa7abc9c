//! The layer's options, with express-session's names and defaults: the cookie's settings, and
//! the checked [`Config`] a layer runs with. The builder that collects and checks them is
//! [`SessionLayerBuilder`](crate::SessionLayerBuilder).

use std::fmt;
use std::sync::Arc;
use std::time::{Duration, SystemTime};

use http::request::Parts;

use crate::backend::Backend;
use crate::cookie::{Priority, SameSite, Secure};

/// Settings for the session-ID cookie (express's `cookie` option).
///
/// The default is express's: `Path=/`, `HttpOnly`, not `Secure`, no `SameSite`, no expiry
/// (a browser-session cookie).
///
/// ```
/// use std::time::Duration;
/// use sessionly::CookieOptions;
/// use sessionly::{SameSite, Secure};
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
    /// lifetime over 400 days. [`build`](crate::SessionLayerBuilder::build) logs each as a warning;
    /// call it yourself to check options a [`cookie_with`](crate::SessionLayerBuilder::cookie_with)
    /// function makes. A setting that only fails on plain HTTP (`Secure::Auto` with
    /// `SameSite=None`) and a `Domain` that does not match the request's host are not found
    /// here: the browser drops those cookies silently. The table in
    /// [`guide::options`](crate::guide::options#what-browsers-keep) lists what Chromium does
    /// with each attribute.
    ///
    /// ```
    /// use sessionly::CookieOptions;
    /// use sessionly::cookie::CookieWarning;
    /// use sessionly::{SameSite, Secure};
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
    /// Where sessions live, the keys of their cookie, and how requests take turns on them.
    pub(crate) backend: Backend,
    pub(crate) cookie: CookieSource,
    /// Whether requests carry the id in the cookie, a token header, or either.
    pub(crate) transport: crate::transport::Transport,
    pub(crate) genid: Option<Arc<GenId>>,
    pub(crate) proxy: Option<bool>,
    pub(crate) resave: bool,
    pub(crate) rolling: bool,
    pub(crate) save_uninitialized: bool,
    pub(crate) unset: Unset,
    pub(crate) save_on_error: bool,
    pub(crate) absolute_lifetime: Option<Duration>,
    /// Load the session only when a handler extracts it.
    pub(crate) lazy_load: bool,
    /// The schemas extracted under this layer, checked for conflicts.
    pub(crate) schemas: crate::schema::Schemas,
    /// Set once the layer has warned that it withheld a `Secure` cookie on a plain connection.
    pub(crate) warned_withheld: std::sync::atomic::AtomicBool,
    /// Set once the layer has warned that another layer's token was in its token header.
    pub(crate) warned_token_clash: std::sync::atomic::AtomicBool,
}

impl fmt::Debug for Config {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Config")
            .field("name", &self.name)
            .field("backend", &self.backend)
            .field("proxy", &self.proxy)
            .field("resave", &self.resave)
            .field("rolling", &self.rolling)
            .field("save_uninitialized", &self.save_uninitialized)
            .field("unset", &self.unset)
            .field("lazy_load", &self.lazy_load)
            .field("absolute_lifetime", &self.absolute_lifetime)
            .finish_non_exhaustive()
    }
}

/// The shortest secret a layer takes: 32 bytes, the key size of HMAC-SHA256 and of the cookie
/// store's cipher. Shorter ones are refused unless
/// [`allow_short_secrets`](crate::SessionLayerBuilder::allow_short_secrets) says they are
/// wanted (never for the cookie store).
pub const MIN_SECRET_LEN: usize = 32;

/// A configuration the middleware cannot run with.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum ConfigError {
    /// `secret` was not given or was an empty list.
    #[error(
        "no session secret: give the layer one with `.secret(..)`, at least 32 random bytes read from your configuration or environment (make one with `openssl rand -base64 32`), never a value written in the code"
    )]
    NoSecret,
    /// One of the secrets is empty. `position` counts from 1, the secret that signs.
    #[error(
        "session secret {position} is empty: use at least 32 random bytes (make one with `openssl rand -base64 32`); is the variable it is read from set?"
    )]
    EmptySecret {
        /// Which secret, counting from 1.
        position: usize,
    },
    /// One of the secrets is shorter than [`MIN_SECRET_LEN`] and
    /// [`allow_short_secrets`](crate::SessionLayerBuilder::allow_short_secrets) was not called.
    #[error(
        "session secret {position} is {len} bytes, under the 32 a secret needs: use at least 32 random bytes (make one with `openssl rand -base64 32`), or, to keep sharing an existing express app's shorter secret, call `.allow_short_secrets()`"
    )]
    ShortSecret {
        /// Which secret, counting from 1.
        position: usize,
        /// Its length in bytes.
        len: usize,
    },
    /// A secret of a [`CookieStore`](crate::CookieStore) layer is shorter than
    /// [`MIN_SECRET_LEN`]: its secrets are encryption keys, and no opt-in takes a short one.
    #[error(
        "session secret {position} is {len} bytes: the cookie store's secrets are encryption keys and need at least 32 random bytes (make one with `openssl rand -base64 32`); `allow_short_secrets` does not apply to them"
    )]
    ShortCookieStoreSecret {
        /// Which secret, counting from 1.
        position: usize,
        /// Its length in bytes.
        len: usize,
    },
    /// The cookie name is empty or holds characters a cookie name cannot.
    #[error("`{0}` is not a valid cookie name")]
    InvalidName(String),
    /// [`store_turns`](crate::SessionLayerBuilder::store_turns) was asked of a store that has no
    /// store-side turn (it does not declare [`Leases`](crate::store::Leases) in
    /// [`Store::capabilities`](crate::store::Store::capabilities)).
    #[error(
        "the session store has no store-side turn (`store_turns`): use RedisStore, PostgresStore or MySqlStore, or implement `sessionly::store::Leases` and declare it in `Store::capabilities`"
    )]
    StoreTurnsUnsupported,
    /// A header of [`transport`](crate::SessionLayerBuilder::transport)'s token is one with a
    /// meaning of its own (`Cookie`, `Set-Cookie`, `Authorization`, `Proxy-Authorization`,
    /// `Vary`, `Cache-Control`): tokens would be mixed up with cookies, the app's credentials
    /// or caching.
    #[error(
        "`{0}` cannot carry session tokens: it has a meaning of its own; name another header (`TokenHeader::named(HeaderName::from_static(\"session-token\"))`), or use `TokenHeader::bearer()` for `Authorization: Bearer`"
    )]
    ReservedTokenHeader(String),
}

#[cfg(test)]
mod tests {
    use super::*;

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
