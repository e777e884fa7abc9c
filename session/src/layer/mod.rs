//! The tower [`Layer`] and [`Service`]: open the session before the handler (with `lazy_load`,
//! the extractor opens it), then decide what to save and which cookie to send once the handler
//! is done.
//!
//! Read top to bottom, [`SessionService::call`] is the whole life of a request: match the cookie
//! path, read the cookie or the token header ([`transport`]), open (or create) the session, run
//! the handler, then [`finish`] has the backend carry out what [`decide`](decide::decide) chose
//! and sends the cookie (or the token).

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::{Duration, SystemTime};

use axum::extract::OriginalUri;
use http::header::{CACHE_CONTROL, SET_COOKIE, VARY};
use http::request::Parts;
use http::{HeaderValue, Request, Response, StatusCode};
use tower_layer::Layer;
use tower_service::Service;
use tracing::Instrument as _;

use crate::backend::Incoming;
use crate::config::Config;
use crate::cookie::{self, Attributes, SameSite, Secure};
use crate::observe::{self, metric::DESTROYS};
use crate::record::CookieOverrides;
use crate::request::{Handle, OutsidePath, RequestInfo, Session, Slot};
use crate::store::StoreError;
use crate::transport::{self, Carrier};

mod builder;
mod decide;

pub use builder::{DEFAULT_MAX_SESSION_SIZE, SessionLayerBuilder};

use decide::{CookieAction, Decision, Ending, Facts, Options, StoreAction, decide};

/// Marks a request that arrived on a direct TLS connection. Insert it from your TLS acceptor
/// (a request whose URI has the `https` scheme counts as such too).
#[derive(Debug, Clone, Copy, Default)]
pub struct DirectTls;

/// Your application's own verdict on whether a request is secure — express's `req.secure`
/// under its "trust proxy" setting. Used when the `proxy` option is not set.
#[derive(Debug, Clone, Copy)]
pub struct AppSecure(pub bool);

/// Adds sessions to a service. Build it with [`SessionLayer::builder`].
///
/// ```
/// use axum::{Router, routing::get};
/// use sessionly::{SessionData, SessionLayer, TypedSession};
///
/// #[derive(SessionData)]
/// struct Visits {
///     count: u64,
/// }
///
/// async fn count(mut session: TypedSession<Visits>) -> String {
///     *session.count_mut() += 1;
///     format!("visit {}", session.count())
/// }
///
/// let layer = SessionLayer::builder().secret("a long random secret, 32 bytes or more").build().unwrap();
/// let app: Router = Router::new().route("/", get(count)).layer(layer);
/// ```
#[derive(Clone, Debug)]
pub struct SessionLayer {
    config: Arc<Config>,
}

impl SessionLayer {
    /// Starts a configuration with express-session's defaults; a secret is required.
    pub fn builder() -> SessionLayerBuilder {
        SessionLayerBuilder::default()
    }

    pub(crate) fn from_config(config: Config) -> Self {
        Self {
            config: Arc::new(config),
        }
    }

    #[cfg(feature = "testing")]
    pub(crate) fn config(&self) -> &Arc<Config> {
        &self.config
    }
}

impl<S> Layer<S> for SessionLayer {
    type Service = SessionService<S>;

    fn layer(&self, inner: S) -> Self::Service {
        SessionService {
            inner,
            config: self.config.clone(),
        }
    }
}

/// The service [`SessionLayer`] wraps around yours.
#[derive(Clone, Debug)]
pub struct SessionService<S> {
    inner: S,
    config: Arc<Config>,
}

type BoxFuture<T> = Pin<Box<dyn Future<Output = T> + Send>>;

impl<S, ReqBody, ResBody> Service<Request<ReqBody>> for SessionService<S>
where
    S: Service<Request<ReqBody>, Response = Response<ResBody>> + Clone + Send + 'static,
    S::Future: Send,
    ReqBody: Send + 'static,
    ResBody: Default + Send + 'static,
{
    type Response = Response<ResBody>;
    type Error = S::Error;
    type Future = BoxFuture<Result<Self::Response, Self::Error>>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, request: Request<ReqBody>) -> Self::Future {
        // The clone that was driven to readiness serves this request.
        let clone = self.inner.clone();
        let mut inner = std::mem::replace(&mut self.inner, clone);
        let config = self.config.clone();
        let request_future = async move {
            let (mut parts, body) = request.into_parts();
            let own_options = config
                .cookie
                .per_request
                .as_ref()
                .map(|f| Box::new(f(&parts)));
            let path = &own_options.as_deref().unwrap_or(&config.cookie.fixed).path;
            // The cookie's path bounds cookie requests only: a token is sent wherever its
            // client sends it.
            let (carrier, presented) = config.transport.carrier(&parts.headers);
            if carrier == Carrier::Cookie && !request_path(&parts).starts_with(path.as_str()) {
                tracing::debug!(%path, "pathname mismatch; no session");
                parts.extensions.insert(OutsidePath(path.clone()));
                return inner.call(Request::from_parts(parts, body)).await;
            }
            let incoming = read_incoming(&config, &parts, carrier, presented);
            let request = RequestInfo {
                incoming,
                carrier,
                secure: is_secure(&parts, config.proxy),
                own_options,
                parts: config.genid.is_some().then(|| Box::new(snapshot(&parts))),
                in_response: true,
            };
            let handle = Handle::new(config, request);
            // Same-session requests take turns from the load until the save; the turn also
            // ends when this future is dropped midway.
            let _close = Close(&handle);
            if !handle.shared().config.lazy_load {
                // Boxed: held inline, the load would take this future (boxed for every
                // request) past the size the allocator serves from its per-thread cache.
                Box::pin(handle.ensure_loaded()).await;
            }
            parts.extensions.insert(handle.clone());
            let mut response = inner.call(Request::from_parts(parts, body)).await?;
            finish(&handle, &mut response).await;
            if carrier == Carrier::Header
                && let Some(header) = handle.config().transport.header()
            {
                // What a header request is answered depends on its token, handed out or not.
                transport::varies_with(response.headers_mut(), header);
            }
            // Whatever the end of the request did, the store-side turn goes back now (a save
            // gave it back with its write).
            handle.release_store_turn().await;
            Ok(response)
        };
        // No subscriber: the future is not wrapped in a span at all.
        match observe::request_span() {
            Some(span) => Box::pin(request_future.instrument(span)),
            None => Box::pin(request_future),
        }
    }
}

/// Closes the request's session when dropped (see [`Handle::close`]).
struct Close<'a>(&'a Handle);

impl Drop for Close<'_> {
    fn drop(&mut self) {
        self.0.close();
    }
}

/// The path as the client sent it, before any `Router::nest` stripped a prefix.
fn request_path(parts: &Parts) -> &str {
    parts
        .extensions
        .get::<OriginalUri>()
        .map_or(parts.uri.path(), |original| original.0.path())
}

/// What the request's session cookie or token header (as `carrier` says it came, see
/// [`Transport`](crate::Transport); `presented`: what its token header holds) carries,
/// verified by the backend.
fn read_incoming(
    config: &Config,
    parts: &Parts,
    carrier: Carrier,
    presented: transport::Presented<'_>,
) -> Incoming {
    if carrier == Carrier::Cookie {
        return match cookie::find(&parts.headers, &config.name) {
            Some(raw) => config.backend.read_cookie(raw),
            None => Incoming::default(),
        };
    }
    match presented {
        transport::Presented::Token(token) => config.backend.read_cookie(token),
        transport::Presented::NoToken(why) => {
            tracing::debug!(why, "no session token to use; a new session");
            Incoming::default()
        }
        transport::Presented::Absent => Incoming::default(),
    }
}

/// Whether the request came over a secure connection, trusting `X-Forwarded-Proto` only
/// when `proxy` says so.
fn is_secure(parts: &Parts, proxy: Option<bool>) -> bool {
    let direct = parts.uri.scheme() == Some(&http::uri::Scheme::HTTPS)
        || parts.extensions.get::<DirectTls>().is_some();
    direct
        || match proxy {
            Some(false) => false,
            Some(true) => parts
                .headers
                .get("x-forwarded-proto")
                .and_then(|v| v.to_str().ok())
                .and_then(|v| v.split(',').next())
                .is_some_and(|proto| proto.trim().eq_ignore_ascii_case("https")),
            None => parts.extensions.get::<AppSecure>().is_some_and(|s| s.0),
        }
}

/// The request head without extensions, for a custom `genid` called after the request has
/// moved on (by `regenerate`).
fn snapshot(parts: &Parts) -> Parts {
    let (mut copy, ()) = Request::new(()).into_parts();
    copy.method = parts.method.clone();
    copy.uri = parts.uri.clone();
    copy.version = parts.version;
    copy.headers = parts.headers.clone();
    copy
}

/// Carries out the end-of-request decision on the store and the response.
async fn finish<B: Default>(handle: &Handle, response: &mut Response<B>) {
    let config = handle.config();
    let server_error = response.status().is_server_error();
    match handle.finish() {
        Slot::Loading | Slot::Unavailable(_) | Slot::Finished => {}
        Slot::Destroyed => {
            let decision = decide(
                options(config),
                ended(handle, Ending::Destroyed, server_error),
            );
            if decision.cookie == CookieAction::Clear {
                apply_cookie(Cookie::Clear, handle, None, response);
            }
        }
        Slot::Unset(how, id) => {
            let ending = Ending::Unset(how);
            let decision = decide(options(config), ended(handle, ending, server_error));
            if decision.store == StoreAction::Destroy {
                if let Err(error) = config.backend.destroy(&id).await {
                    tracing::error!(%error, "could not destroy the unset session");
                    fail(response);
                    return;
                }
                observe::count_one(DESTROYS);
            }
            if decision.cookie == CookieAction::Clear {
                apply_cookie(Cookie::Clear, handle, None, response);
            }
        }
        Slot::Active(mut session) => {
            session.record.cookie.touch(SystemTime::now());
            let facts = active_facts(handle, &session, server_error);
            let decision = decide(options(config), facts);
            tracing::debug!(store = ?decision.store, cookie = ?decision.cookie, "end of request");
            if decision.withheld {
                warn_withheld(config);
            }
            let backend = &config.backend;
            let save = decision.store == StoreAction::Save;
            if save && let Err(error) = backend.check_size(&session.record) {
                // Nothing is written: the stored session stays as it was.
                tracing::error!(%error, "session not saved");
                internal_error(response);
                return;
            }
            if matches!(decision.store, StoreAction::Save | StoreAction::Touch) {
                let (id, record) = (&session.id, &session.record);
                let written = backend
                    .commit(handle.turn(), save, id, record, session.changed())
                    .await;
                if !written_back(written, save, facts, response) {
                    return;
                }
            }
            if let Some(cookie) = cookie_out(handle, decision, facts, &session, response) {
                apply_cookie(cookie, handle, Some(&session), response);
            }
        }
    }
}

/// Says that a `Secure` cookie was not sent on a plain connection, and how to fix that: at
/// WARN the first time for the layer, at DEBUG after that. Left silent, every visitor stays
/// signed out and nothing says why.
fn warn_withheld(config: &Config) {
    if config
        .warned_withheld
        .swap(true, std::sync::atomic::Ordering::Relaxed)
    {
        tracing::debug!("`Secure` session cookie not sent on a plain connection");
        return;
    }
    tracing::warn!(
        cookie = %config.name,
        "the session cookie is `Secure` and this request was not secure, so it was not sent \
         (and a new session it would have carried is not stored: visitors cannot stay signed \
         in). Behind a proxy \
         that terminates TLS, trust its `X-Forwarded-Proto` with `.proxy(true)`; with TLS in \
         the app, mark requests with `DirectTls` (or your own verdict with `AppSecure`); for \
         a site served over both HTTP and HTTPS, use `Secure::Auto`. Logged once per layer; \
         later cases at DEBUG"
    );
}

/// Says that another session layer had already put a token in this layer's response header,
/// which this one replaced: two layers share a token header, and each reads the other's tokens
/// as bad ones. At WARN once per layer.
fn warn_token_clash(config: &Config, header: &crate::TokenHeader) {
    if config
        .warned_token_clash
        .swap(true, std::sync::atomic::Ordering::Relaxed)
    {
        return;
    }
    tracing::warn!(
        header = %header.response_header(),
        "two session layers hand out tokens in the same response header, so each replaces the \
         other's and reads the other's tokens as bad ones: give each layer a header of its own \
         (`TokenHeader::named`); only one can use `Authorization`. Logged once per layer"
    );
}

/// The options the decision takes.
fn options(config: &Config) -> Options {
    Options {
        rolling: config.rolling,
        save_uninitialized: config.save_uninitialized,
        save_on_error: config.save_on_error,
    }
}

/// What the decision needs to know about a request whose session ended during it.
fn ended(handle: &Handle, ending: Ending, server_error: bool) -> Facts {
    let shared = handle.shared();
    let (config, request) = (&shared.config, &shared.request);
    let default_secure = resolve_secure(config, &CookieOverrides::default(), request);
    Facts {
        ending,
        cookie_id_matches: false,
        had_cookie: request.incoming.id.is_some(),
        modified: false,
        cookie_changed: false,
        ever_saved: false,
        saved: false,
        has_expires: false,
        can_send_cookie: can_send(request, default_secure),
        server_error,
        touch_due: false,
    }
}

/// What the decision needs to know about a request that ends with a live session.
fn active_facts(handle: &Handle, session: &Session, server_error: bool) -> Facts {
    let shared = handle.shared();
    let (config, request) = (&shared.config, &shared.request);
    let secure = resolve_secure(config, &session.record.cookie.overrides, request);
    Facts {
        ending: Ending::Active,
        cookie_id_matches: request.incoming.id.as_deref() == Some(session.id.as_str()),
        had_cookie: request.incoming.id.is_some(),
        modified: session.modified(),
        cookie_changed: session.cookie_changed,
        ever_saved: session.saved_generation.is_some(),
        saved: session.saved(),
        has_expires: session.record.cookie.expires_ms.is_some(),
        can_send_cookie: can_send(request, secure),
        server_error,
        touch_due: touch_due(session, config.backend.idle_ttl()),
    }
}

/// Whether the response may carry the session's cookie (or token): a `Secure` cookie only on a
/// secure connection; a token always (`Secure` is an attribute browsers obey; an API client
/// sends its token where it chooses).
fn can_send(request: &RequestInfo, secure_cookie: bool) -> bool {
    request.carrier == Carrier::Header || !secure_cookie || request.secure
}

/// Whether the response may go on to send the session's cookie after the backend's save or
/// touch answered `written`; if not, the response says what went wrong where it must.
fn written_back<B: Default>(
    written: Result<(), StoreError>,
    save: bool,
    facts: Facts,
    response: &mut Response<B>,
) -> bool {
    match written {
        Ok(()) => true,
        Err(StoreError::Unsupported { .. }) if !save => true,
        Err(StoreError::Gone) => {
            // Destroyed or regenerated by another request since this one loaded it: that
            // request's outcome stands, and this response must not hand the client the dead id
            // again.
            tracing::debug!("session ended meanwhile; not written back");
            false
        }
        Err(error) if !save => {
            tracing::warn!(%error, "could not touch the session");
            true
        }
        Err(error) => {
            tracing::error!(%error, "could not save the session");
            // Losing a write the handler made must show; losing a housekeeping save (an
            // untouched new session, a resave) only costs the cookie.
            if facts.modified {
                fail(response);
            }
            false
        }
    }
}

/// The cookie a response with a live session sends, once the store has its part: `None` when
/// it sends none, or when the cookie could not be made (the response then says so).
fn cookie_out<B: Default>(
    handle: &Handle,
    decision: Decision,
    facts: Facts,
    session: &Session,
    response: &mut Response<B>,
) -> Option<Cookie> {
    let backend = &handle.config().backend;
    let save = decision.store == StoreAction::Save;
    let mut cookie = decision.cookie;
    if facts.can_send_cookie
        && matches!(decision.store, StoreAction::Save | StoreAction::Touch)
        && backend.resends(save, &session.record)
    {
        // A cookie session's cookie is where it is saved (or touched).
        cookie = CookieAction::Set;
    }
    match cookie {
        CookieAction::Set => match backend.cookie_value(&session.id, &session.record, save) {
            Ok(value) => Some(Cookie::Set(value)),
            Err(error) => {
                // No cookie: the client keeps the one it had.
                tracing::error!(%error, "session not saved");
                internal_error(response);
                None
            }
        },
        CookieAction::Clear => Some(Cookie::Clear),
        CookieAction::Nothing => None,
    }
}

/// Whether touching the store would move the session's expiry by enough to be worth a store
/// call: by 1% of its lifetime, at most a minute. Skipping smaller moves spares the store a
/// write on every read of a busy session, at the price of the session ending up to that much
/// earlier than its cookie says. For a browser-session cookie the lifetime is the store's idle
/// TTL, counted from the last write or touch; a store that does not say what its idle TTL is
/// is touched every time.
fn touch_due(session: &Session, store_idle_ttl: Option<Duration>) -> bool {
    let cookie = &session.record.cookie;
    let Some(stored) = session.stored else {
        return true;
    };
    let moved_enough = |from: u64, to: u64, lifetime_ms: u64| {
        to.saturating_sub(from) >= (lifetime_ms / 100).min(60_000)
    };
    match (
        stored.expires_ms,
        cookie.expires_ms,
        cookie.original_max_age_ms,
    ) {
        (Some(stored), Some(now), Some(lifetime)) => moved_enough(stored, now, lifetime),
        (None, None, _) => store_idle_ttl.is_none_or(|idle| {
            let idle_ms = u64::try_from(idle.as_millis()).unwrap_or(u64::MAX);
            moved_enough(stored.touched_ms, cookie.touched_ms, idle_ms)
        }),
        _ => true,
    }
}

/// Replaces the handler's response: a change it reported done did not reach the store.
fn fail<B: Default>(response: &mut Response<B>) {
    *response = Response::default();
    *response.status_mut() = StatusCode::SERVICE_UNAVAILABLE;
}

/// Replaces the handler's response: the session could not be saved at all (over a size limit).
fn internal_error<B: Default>(response: &mut Response<B>) {
    *response = Response::default();
    *response.status_mut() = StatusCode::INTERNAL_SERVER_ERROR;
}

fn resolve_secure(config: &Config, overrides: &CookieOverrides, request: &RequestInfo) -> bool {
    overrides
        .secure
        .unwrap_or(match request.options(config).secure {
            Secure::Never => false,
            Secure::Always => true,
            Secure::Auto => request.secure,
        })
}

/// The session cookie a response carries: the session's value, or a cleared cookie.
enum Cookie {
    Set(String),
    Clear,
}

/// Adds the `Set-Cookie` the decision asks for (`Set` needs the session's value, see
/// [`cookie_out`]): a session's cookie with its attributes, or a cleared one.
fn apply_cookie<B>(
    cookie: Cookie,
    handle: &Handle,
    session: Option<&Session>,
    response: &mut Response<B>,
) {
    let shared = handle.shared();
    let (config, request) = (&shared.config, &shared.request);
    let default_overrides = CookieOverrides::default();
    let overrides = session.map_or(&default_overrides, |s| &s.record.cookie.overrides);
    let options = request.options(config);
    let mut attributes = Attributes {
        domain: overrides.domain.as_deref().or(options.domain.as_deref()),
        path: overrides.path.as_deref().unwrap_or(&options.path),
        expires: None,
        http_only: overrides.http_only.unwrap_or(options.http_only),
        secure: resolve_secure(config, overrides, request),
        same_site: match overrides.same_site.or(options.same_site) {
            Some(SameSite::Auto) if request.secure => Some(SameSite::None),
            Some(SameSite::Auto) => Some(SameSite::Lax),
            other => other,
        },
        partitioned: overrides.partitioned.unwrap_or(options.partitioned),
        priority: overrides.priority.or(options.priority),
    };
    let value = match (cookie, session) {
        (Cookie::Set(value), Some(session)) => {
            attributes.expires = session.record.cookie.expires();
            value
        }
        (Cookie::Clear, _) => {
            attributes.expires = Some(SystemTime::UNIX_EPOCH);
            String::new()
        }
        _ => return,
    };
    if let Some(header) = config.transport.header() {
        let token = (!value.is_empty()).then_some((value.as_str(), attributes.expires));
        let to_cookie_client = header.hands_out_to_cookie_clients();
        if (request.carrier == Carrier::Header || to_cookie_client)
            && !transport::hand_out(response.headers_mut(), header, token)
        {
            warn_token_clash(config, header);
        }
        if request.carrier == Carrier::Header {
            // A header client: the token, and no cookie.
            return;
        }
    }
    let header = cookie::set_cookie(&config.name, &value, &attributes);
    match HeaderValue::try_from(header) {
        Ok(header) => {
            let headers = response.headers_mut();
            headers.append(SET_COOKIE, header);
            keep_out_of_shared_caches(headers);
        }
        Err(error) => tracing::error!(%error, "session cookie is not a valid header value"),
    }
}

/// A response that sets a session cookie must not be served from a shared cache to someone
/// else: it varies with the `Cookie` header, and caches must not store its `Set-Cookie`.
fn keep_out_of_shared_caches(headers: &mut http::HeaderMap) {
    use transport::lists;
    if !lists(headers, VARY, "cookie") && !lists(headers, VARY, "*") {
        headers.append(VARY, HeaderValue::from_static("Cookie"));
    }
    if !lists(headers, CACHE_CONTROL, "no-cache") && !lists(headers, CACHE_CONTROL, "no-store") {
        headers.append(
            CACHE_CONTROL,
            HeaderValue::from_static("no-cache=\"Set-Cookie\""),
        );
    }
}
