//! [`SessionLayerBuilder`]: collects the options, checks them at `build` and fails on a
//! configuration error (no secret, a cookie name that is not a cookie token, a store without
//! the turn `store_turns` needs) instead of letting a bad setting surface at request time.

use std::sync::Arc;
use std::time::Duration;

use http::request::Parts;

use super::SessionLayer;
use crate::backend::{Backend, StoreTurns, Turns};
use crate::config::{
    Config, ConfigError, CookieOptions, CookieSource, GenId, MIN_SECRET_LEN, Unset,
};
use crate::cookie::Signer;
use crate::store::MemoryStore;
use crate::store::{IntoBackend, Storage};
use crate::transport::Transport;

/// Builds a [`SessionLayer`](crate::SessionLayer); see each option for its default.
#[must_use]
pub struct SessionLayerBuilder {
    name: String,
    secrets: Vec<Vec<u8>>,
    store: Option<Storage>,
    cookie: CookieSource,
    transport: Transport,
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
    allow_short_secrets: bool,
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
            transport: Transport::Cookie,
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
            allow_short_secrets: false,
        }
    }
}

impl SessionLayerBuilder {
    /// Adds a secret. The first secret given signs new cookies; every secret verifies, so a
    /// rotation puts the new secret first and keeps the old ones after it. Required, and each
    /// must be at least [`MIN_SECRET_LEN`](crate::MIN_SECRET_LEN) (32) bytes, random, and
    /// read from the app's configuration rather than written in its code; see
    /// [`allow_short_secrets`](Self::allow_short_secrets) for an express app's shorter one.
    ///
    /// ```
    /// use sessionly::{ConfigError, SessionLayer};
    ///
    /// // In an app: `std::env::var("SESSION_SECRET")?`, made with `openssl rand -base64 32`.
    /// let secret = "hVbo3GQ1m4eR3u8cJ8y0bq2yTz5v9Xw7kLs6Pq4Nf1E=";
    /// assert!(SessionLayer::builder().secret(secret).build().is_ok());
    ///
    /// let short = SessionLayer::builder().secret("keyboard cat").build();
    /// assert!(matches!(short, Err(ConfigError::ShortSecret { len: 12, .. })));
    /// ```
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

    /// Takes secrets shorter than [`MIN_SECRET_LEN`](crate::MIN_SECRET_LEN) (32 bytes), for a
    /// layer that must share an existing express app's secret (express takes any string). A
    /// short secret is easier to guess offline from one signed cookie, and a guessed secret
    /// signs any session id, so the layer says at WARN, when built, that it runs with one;
    /// move both apps to a long secret when you can (put it first, keep the old one after it
    /// until the old cookies have expired). An empty secret is refused even so, and a
    /// [`CookieStore`](crate::CookieStore)'s secrets, which are encryption keys, always need
    /// 32 bytes.
    pub fn allow_short_secrets(mut self) -> Self {
        self.allow_short_secrets = true;
        self
    }

    /// The cookie name (default `connect.sid`).
    pub fn name(mut self, name: impl Into<String>) -> Self {
        self.name = name.into();
        self
    }

    /// Where sessions are kept (default: a new [`MemoryStore`]).
    pub fn store(mut self, store: impl IntoBackend) -> Self {
        self.store = Some(store.into_storage());
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

    /// Save unmodified sessions back at the end of every request (default `false`: a touch
    /// keeps an unmodified session alive without rewriting it, and every store has one, its
    /// own or `Store::touch`'s default patch). express-session defaults to `true` and
    /// deprecates that default.
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
    /// The store must have the turn (implement [`Leases`](crate::store::Leases) and declare
    /// it in [`Store::capabilities`](crate::store::Store::capabilities): `RedisStore`, single
    /// node or Cluster, `PostgresStore` and `MySqlStore`, whose save
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
    ///
    /// The default costs a store read (on Redis, a round trip) on every request that carries
    /// the cookie and never uses the session; turn this on unless an idle timeout must count
    /// every request ([`guide::options`](crate::guide::options) has the figures).
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
    ///     .secret("a long random secret, 32 bytes or more")
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
    /// [`Record::encoded_size`](crate::store::Record::encoded_size) (the encoded fields with their
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

    /// Where requests carry the session id, and where responses hand out a new one: the
    /// cookie (default), a token header (API, mobile and command-line clients), or either, one
    /// session store and one set of secrets for both. [`Transport`] has the rules: which wins
    /// on a request that carries both, and what a header client is told when its session is
    /// new, given a new id, or destroyed.
    ///
    /// ```
    /// use sessionly::{SessionLayer, TokenHeader, Transport};
    ///
    /// // Browsers keep their cookie; apps send `Authorization: Bearer <token>`.
    /// let layer = SessionLayer::builder()
    ///     .secret("a long random secret, 32 bytes or more")
    ///     .transport(Transport::CookieOrHeader(TokenHeader::bearer()))
    ///     .build()
    ///     .unwrap();
    /// ```
    pub fn transport(mut self, transport: Transport) -> Self {
        self.transport = transport;
        self
    }

    /// Checks the options.
    pub fn build(self) -> Result<SessionLayer, ConfigError> {
        let storage = self
            .store
            .unwrap_or_else(|| MemoryStore::new().into_storage());
        check_secrets(
            &self.secrets,
            self.allow_short_secrets,
            storage.in_cookies(),
        )?;
        let signer = Signer::new(&self.secrets).ok_or(ConfigError::NoSecret)?;
        if self.name.is_empty() || !self.name.bytes().all(is_token_char) {
            return Err(ConfigError::InvalidName(self.name));
        }
        if self.store_turns.is_some() && !storage.has_leases() {
            return Err(ConfigError::StoreTurnsUnsupported);
        }
        if let Some(name) = self.transport.header().and_then(|h| h.reserved()) {
            return Err(ConfigError::ReservedTokenHeader(name.to_string()));
        }
        // Without cookies, no browser's treatment of them matters.
        let cookies = !matches!(self.transport, Transport::Header(_));
        if cookies && self.cookie.per_request.is_none() {
            for warning in self.cookie.fixed.browser_warnings(&self.name) {
                tracing::warn!(cookie = %self.name, "{warning}");
            }
        }
        let turns = Turns {
            locks: self.lock_sessions.then(Default::default),
            store: self.store_turns,
        };
        let backend = Backend::new(
            storage,
            signer,
            &self.secrets,
            &self.name,
            self.max_session_size,
            turns,
        );
        let config = Config {
            name: self.name,
            backend,
            cookie: self.cookie,
            transport: self.transport,
            genid: self.genid,
            proxy: self.proxy,
            resave: self.resave,
            rolling: self.rolling,
            save_uninitialized: self.save_uninitialized,
            unset: self.unset,
            save_on_error: self.save_on_error,
            absolute_lifetime: self.absolute_lifetime,
            lazy_load: self.lazy_load,
            schemas: Default::default(),
            warned_withheld: Default::default(),
            warned_token_clash: Default::default(),
        };
        Ok(SessionLayer::from_config(config))
    }
}

/// Refuses no secret, an empty one, and, unless `allow_short` (never for sealed cookies,
/// whose secrets are encryption keys), one under [`MIN_SECRET_LEN`]; warns about the short
/// ones it lets through.
fn check_secrets(
    secrets: &[Vec<u8>],
    allow_short: bool,
    in_cookies: bool,
) -> Result<(), ConfigError> {
    if secrets.is_empty() {
        return Err(ConfigError::NoSecret);
    }
    for (index, secret) in secrets.iter().enumerate() {
        let (position, len) = (index + 1, secret.len());
        if len == 0 {
            return Err(ConfigError::EmptySecret { position });
        }
        if len >= MIN_SECRET_LEN {
            continue;
        }
        if in_cookies {
            return Err(ConfigError::ShortCookieStoreSecret { position, len });
        }
        if !allow_short {
            return Err(ConfigError::ShortSecret { position, len });
        }
        tracing::warn!(
            position,
            len,
            "session secret shorter than 32 bytes, taken because of `allow_short_secrets`: \
             a short secret is easier to guess from a signed cookie; move to 32 random bytes \
             (put the new secret first and keep this one after it until its cookies expire)"
        );
    }
    Ok(())
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
    fn secrets_are_long_enough() {
        const LONG: &str = "thirty-two bytes of secret here!";
        const SHORT: &str = "keyboard cat";
        let (long, short) = (Ok(()), |position, len| ConfigError::ShortSecret {
            position,
            len,
        });
        #[rustfmt::skip]
        let table: Vec<(&str, SessionLayerBuilder, Result<(), ConfigError>)> = vec![
            ("32 bytes",                   SessionLayerBuilder::default().secret(LONG), long.clone()),
            ("empty",                      SessionLayerBuilder::default().secret(""), Err(ConfigError::EmptySecret { position: 1 })),
            ("empty, even if short is ok", SessionLayerBuilder::default().secret("").allow_short_secrets(), Err(ConfigError::EmptySecret { position: 1 })),
            ("12 bytes",                   SessionLayerBuilder::default().secret(SHORT), Err(short(1, 12))),
            ("31 bytes",                   SessionLayerBuilder::default().secret(&LONG[1..]), Err(short(1, 31))),
            ("an old short one",           SessionLayerBuilder::default().secrets([LONG, "abc"]), Err(short(2, 3))),
            ("short, allowed",             SessionLayerBuilder::default().secret(SHORT).allow_short_secrets(), long.clone()),
            ("none",                       SessionLayerBuilder::default(), Err(ConfigError::NoSecret)),
        ];
        #[cfg(feature = "cookie-store")]
        let table = {
            let sealed = crate::CookieStore::new;
            let too_short = Err(ConfigError::ShortCookieStoreSecret {
                position: 1,
                len: 12,
            });
            let mut table = table;
            #[rustfmt::skip]
            table.extend([
                ("cookie store, 32 bytes", SessionLayerBuilder::default().secret(LONG).store(sealed()), long.clone()),
                ("cookie store, short",    SessionLayerBuilder::default().secret(SHORT).store(sealed()), too_short.clone()),
                ("cookie store, allowed",  SessionLayerBuilder::default().secret(SHORT).allow_short_secrets().store(sealed()), too_short),
            ]);
            table
        };
        for (name, builder, expected) in table {
            assert_eq!(builder.build().map(|_| ()), expected, "{name}");
        }
    }

    #[test]
    fn cookie_names_must_be_tokens() {
        for bad in ["", "a b", "a;b", "a=b", "é"] {
            let err = SessionLayerBuilder::default()
                .secret("a secret of at least thirty-two bytes")
                .name(bad)
                .build()
                .unwrap_err();
            assert_eq!(err, ConfigError::InvalidName(bad.to_owned()));
        }
    }

    #[test]
    fn token_headers_must_not_be_reserved_ones() {
        use crate::transport::{TokenHeader, Transport};
        use http::header::{AUTHORIZATION, CACHE_CONTROL, COOKIE, SET_COOKIE, VARY};
        let build = |header: TokenHeader| {
            SessionLayerBuilder::default()
                .secret("a secret of at least thirty-two bytes")
                .transport(Transport::CookieOrHeader(header))
                .build()
                .map(|_| ())
        };
        for name in [COOKIE, SET_COOKIE, AUTHORIZATION, VARY, CACHE_CONTROL] {
            assert_eq!(
                build(TokenHeader::named(name.clone())),
                Err(ConfigError::ReservedTokenHeader(name.to_string()))
            );
        }
        assert_eq!(build(TokenHeader::bearer()), Ok(()));
        let own = http::HeaderName::from_static("session-token");
        assert_eq!(build(TokenHeader::named(own)), Ok(()));
    }
}
