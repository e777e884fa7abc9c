//! Testing your handlers and your stores (feature `testing`).
//!
//! - [`TestClient`] sends requests to a [`Router`] as a browser would: it keeps the cookies
//!   each response sets and sends them with the next request. No server, no port: each
//!   request is a call of the router.
//! - [`Sessions`] looks behind a [`SessionLayer`]: it seeds a session with typed data before a
//!   request (a signed-in user for a handler test), reads the session a response left in the
//!   store, and makes a [`TypedSession`] for unit tests of functions that take one, with no
//!   HTTP at all.
//! - [`conformance`] is the contract a [`Store`](crate::store::Store) must keep, as the tests every
//!   store of this crate passes.
//!
//! ```
//! use axum::{Router, routing::get};
//! use sessionly::testing::{Sessions, TestClient};
//! use sessionly::{SessionData, SessionLayer, TypedSession};
//!
//! #[derive(SessionData)]
//! struct Account {
//!     user: Option<String>,
//!     views: u32,
//! }
//!
//! async fn home(mut session: TypedSession<Account>) -> String {
//!     *session.views_mut() += 1;
//!     match session.user() {
//!         Some(user) => format!("hello {user}"),
//!         None => "hello stranger".to_owned(),
//!     }
//! }
//!
//! # tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap().block_on(async {
//! let layer = SessionLayer::builder().secret("a test secret of 32 bytes or more").build().unwrap();
//! let client = TestClient::new(Router::new().route("/", get(home)).layer(layer.clone()))
//!     .with_layer(&layer);
//!
//! // A signed-in user, without going through the login form.
//! client.seed(Account { user: Some("ada".into()), views: 0 }).await.unwrap();
//! assert_eq!(client.get("/").await.text(), "hello ada");
//! assert_eq!(client.get("/").await.text(), "hello ada");
//!
//! // What the requests left in the store.
//! let account: Account = client.session().await.unwrap().unwrap();
//! assert_eq!(account.views, 2);
//! # });
//! ```

pub mod conformance;

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::SystemTime;

use axum::Router;
use axum::body::{Body, Bytes};
use http::{HeaderMap, Request, StatusCode, header};
use percent_encoding::{AsciiSet, NON_ALPHANUMERIC, utf8_percent_encode};
use tower_service::Service as _;

use crate::SessionLayer;
use crate::TokenHeader;
use crate::config::Config;
use crate::error::SessionError;
use crate::record::Record;
use crate::request::extract::TypedSession;
use crate::request::{Handle, RequestInfo, new_session};
use crate::schema::{SessionData, Sink, Tracked};

/// What `application/x-www-form-urlencoded` leaves as is: ASCII letters, digits and `*-._`.
const FORM: &AsciiSet = &NON_ALPHANUMERIC
    .remove(b'*')
    .remove(b'-')
    .remove(b'.')
    .remove(b'_');

/// The largest response body a [`TestClient`] reads: 16 MiB.
const MAX_BODY: usize = 16 << 20;

/// A client for a [`Router`] that keeps cookies across requests, as a browser does, or, made
/// [`carrying_token`](Self::carrying_token), a session token, as an API client does.
///
/// It keeps every cookie a response sets, by name, and drops one that a response expires
/// (`Max-Age=0` or an `Expires` in the past). It does not look at `Domain`, `Path` or `Secure`:
/// it is one browser on one site. Clones share the cookie jar; make a second client for a
/// second browser.
#[derive(Clone)]
pub struct TestClient {
    app: Router,
    jar: Arc<Mutex<BTreeMap<String, String>>>,
    /// For a token client: the header, and the token held.
    token: Option<(TokenHeader, Arc<Mutex<Option<String>>>)>,
    sessions: Option<Sessions>,
}

impl TestClient {
    /// A client of `app`, with no cookies yet.
    pub fn new(app: Router) -> Self {
        Self {
            app,
            jar: Arc::default(),
            token: None,
            sessions: None,
        }
    }

    /// Makes this a client that carries a session token in `header` instead of cookies (see
    /// [`Transport`](crate::Transport)): each request sends the token it holds (the header
    /// empty while it holds none, asking for one), and it keeps the token a response hands
    /// out, forgetting it when a response voids it. It sends and keeps no cookies.
    ///
    /// ```
    /// use axum::{Router, routing::get};
    /// use sessionly::testing::TestClient;
    /// use sessionly::{SessionData, SessionLayer, TokenHeader, Transport, TypedSession};
    ///
    /// #[derive(SessionData)]
    /// struct Visits {
    ///     count: u32,
    /// }
    ///
    /// async fn count(mut session: TypedSession<Visits>) -> String {
    ///     *session.count_mut() += 1;
    ///     session.count().to_string()
    /// }
    ///
    /// # tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap().block_on(async {
    /// let layer = SessionLayer::builder()
    ///     .secret("a test secret of 32 bytes or more")
    ///     .transport(Transport::CookieOrHeader(TokenHeader::bearer()))
    ///     .build()
    ///     .unwrap();
    /// let phone = TestClient::new(Router::new().route("/", get(count)).layer(layer))
    ///     .carrying_token(TokenHeader::bearer());
    /// assert_eq!(phone.get("/").await.text(), "1");
    /// assert!(phone.token().is_some());
    /// assert_eq!(phone.get("/").await.text(), "2");
    /// # });
    /// ```
    pub fn carrying_token(mut self, header: TokenHeader) -> Self {
        self.token = Some((header, Arc::default()));
        self
    }

    /// The session token a token client holds.
    pub fn token(&self) -> Option<String> {
        let (_, token) = self.token.as_ref()?;
        token.lock().unwrap_or_else(PoisonError::into_inner).clone()
    }

    /// Sets (or, with `None`, forgets) the session token a token client holds.
    pub fn set_token(&self, value: Option<&str>) {
        if let Some((_, token)) = &self.token {
            *token.lock().unwrap_or_else(PoisonError::into_inner) = value.map(str::to_owned);
        }
    }

    /// Lets the client seed and read the sessions of `layer` (the layer `app` runs behind):
    /// [`seed`](Self::seed), [`session`](Self::session), [`session_id`](Self::session_id).
    pub fn with_layer(mut self, layer: &SessionLayer) -> Self {
        self.sessions = Some(Sessions::new(layer));
        self
    }

    /// `GET path`.
    pub async fn get(&self, path: &str) -> TestResponse {
        self.send(request("GET", path, Body::empty())).await
    }

    /// `POST path` with `form` as an `application/x-www-form-urlencoded` body.
    pub async fn post_form(&self, path: &str, form: &[(&str, &str)]) -> TestResponse {
        let body: Vec<String> = form
            .iter()
            .map(|(name, value)| {
                format!(
                    "{}={}",
                    utf8_percent_encode(name, FORM),
                    utf8_percent_encode(value, FORM)
                )
            })
            .collect();
        let mut request = request("POST", path, Body::from(body.join("&")));
        request.headers_mut().insert(
            header::CONTENT_TYPE,
            http::HeaderValue::from_static("application/x-www-form-urlencoded"),
        );
        self.send(request).await
    }

    /// Sends `request` with the client's cookies (added to any `Cookie` header it has), and
    /// keeps the cookies the response sets.
    pub async fn send(&self, mut request: Request<Body>) -> TestResponse {
        if let Some((header, _)) = &self.token {
            let token = self.token().unwrap_or_default();
            let value = if header.is_bearer() {
                format!("Bearer {token}")
            } else {
                token
            };
            if let Ok(value) = http::HeaderValue::from_str(value.trim_end()) {
                request
                    .headers_mut()
                    .insert(header.request_header().clone(), value);
            }
        } else if let Some(cookies) = self.cookie_header() {
            let header = match request.headers().get(header::COOKIE) {
                Some(own) => format!("{}; {cookies}", String::from_utf8_lossy(own.as_bytes())),
                None => cookies,
            };
            if let Ok(value) = http::HeaderValue::from_str(&header) {
                request.headers_mut().insert(header::COOKIE, value);
            }
        }
        let mut app = self.app.clone();
        // A router is always ready, and its error type is `Infallible`.
        let _ = std::future::poll_fn(|cx| {
            tower_service::Service::<Request<Body>>::poll_ready(&mut app, cx)
        })
        .await;
        let response = match app.call(request).await {
            Ok(response) => response,
            Err(never) => match never {},
        };
        let (parts, body) = response.into_parts();
        match &self.token {
            Some((header, _)) => {
                if let Some(token) = parts.headers.get(header.response_header()) {
                    let token = String::from_utf8_lossy(token.as_bytes());
                    self.set_token((!token.is_empty()).then_some(&*token));
                }
            }
            None => {
                for set_cookie in parts.headers.get_all(header::SET_COOKIE) {
                    self.keep(&String::from_utf8_lossy(set_cookie.as_bytes()));
                }
            }
        }
        let body = axum::body::to_bytes(body, MAX_BODY)
            .await
            .unwrap_or_default();
        TestResponse {
            status: parts.status,
            headers: parts.headers,
            body,
        }
    }

    /// The value of the cookie `name`, if the client holds one.
    pub fn cookie(&self, name: &str) -> Option<String> {
        self.jar().get(name).cloned()
    }

    /// Sets the cookie `name` as if a response had.
    pub fn set_cookie(&self, name: &str, value: &str) {
        self.jar().insert(name.to_owned(), value.to_owned());
    }

    /// Forgets the cookie `name`.
    pub fn remove_cookie(&self, name: &str) {
        self.jar().remove(name);
    }

    /// Forgets every cookie: a new browser.
    pub fn clear_cookies(&self) {
        self.jar().clear();
    }

    /// The `Cookie` header the next request sends, if any.
    pub fn cookie_header(&self) -> Option<String> {
        let jar = self.jar();
        let pairs: Vec<String> = jar
            .iter()
            .map(|(name, value)| format!("{name}={value}"))
            .collect();
        (!pairs.is_empty()).then(|| pairs.join("; "))
    }

    /// Stores a new session holding `data` and gives the client its cookie (or token), as if a
    /// request had set every field; answers its id. Needs [`with_layer`](Self::with_layer).
    pub async fn seed<T: SessionData>(&self, data: T) -> Result<String, SessionError> {
        let sessions = self.layer()?;
        let id = sessions.seed(data).await?;
        let value = sessions.cookie_value(&id);
        match self.token {
            Some(_) => self.set_token(Some(&value)),
            None => self.set_cookie(sessions.cookie_name(), &value),
        }
        Ok(id)
    }

    /// The id of the session whose cookie (or token) the client holds, if its signature is
    /// good. Needs [`with_layer`](Self::with_layer).
    pub fn session_id(&self) -> Option<String> {
        let sessions = self.sessions.as_ref()?;
        let value = match self.token {
            Some(_) => self.token()?,
            None => self.cookie(sessions.cookie_name())?,
        };
        sessions.id_in(&value)
    }

    /// The data of the session whose cookie the client holds, as the store has it now; `None`
    /// when there is no cookie or no such session. Needs [`with_layer`](Self::with_layer).
    pub async fn session<T: SessionData>(&self) -> Result<Option<T>, SessionError> {
        let sessions = self.layer()?;
        match self.session_id() {
            Some(id) => sessions.read(&id).await,
            None => Ok(None),
        }
    }

    fn layer(&self) -> Result<&Sessions, SessionError> {
        self.sessions.as_ref().ok_or(SessionError::MissingLayer)
    }

    fn jar(&self) -> std::sync::MutexGuard<'_, BTreeMap<String, String>> {
        self.jar.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Keeps the cookie of one `Set-Cookie` header, or drops it if the header expires it.
    fn keep(&self, set_cookie: &str) {
        let mut parts = set_cookie.split(';');
        let Some((name, value)) = parts.next().and_then(|pair| pair.split_once('=')) else {
            return;
        };
        let (name, value) = (name.trim(), value.trim());
        let expired = parts.any(|attribute| {
            let (key, val) = attribute.split_once('=').unwrap_or((attribute, ""));
            match key.trim().to_ascii_lowercase().as_str() {
                "max-age" => val.trim().parse::<i64>().is_ok_and(|age| age <= 0),
                "expires" => {
                    httpdate::parse_http_date(val.trim()).is_ok_and(|at| at <= SystemTime::now())
                }
                _ => false,
            }
        });
        if expired {
            self.remove_cookie(name);
        } else {
            self.set_cookie(name, value);
        }
    }
}

fn request(method: &str, path: &str, body: Body) -> Request<Body> {
    let mut request = Request::new(body);
    *request.method_mut() = method.parse().unwrap_or(http::Method::GET);
    *request.uri_mut() = path.parse().unwrap_or_default();
    request
}

/// A response as a [`TestClient`] read it.
#[derive(Debug, Clone)]
pub struct TestResponse {
    status: StatusCode,
    headers: HeaderMap,
    body: Bytes,
}

impl TestResponse {
    /// The status.
    pub fn status(&self) -> StatusCode {
        self.status
    }

    /// The headers.
    pub fn headers(&self) -> &HeaderMap {
        &self.headers
    }

    /// The header `name` as text, if it is there and is text.
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.get(name)?.to_str().ok()
    }

    /// The whole `Set-Cookie` header of the cookie `name`, attributes included, if the
    /// response set it.
    pub fn set_cookie(&self, name: &str) -> Option<&str> {
        self.headers
            .get_all(header::SET_COOKIE)
            .iter()
            .filter_map(|value| value.to_str().ok())
            .find(|value| value.split_once('=').is_some_and(|(n, _)| n.trim() == name))
    }

    /// The body.
    pub fn bytes(&self) -> &Bytes {
        &self.body
    }

    /// The body as text (invalid UTF-8 replaced).
    pub fn text(&self) -> String {
        String::from_utf8_lossy(&self.body).into_owned()
    }
}

/// The sessions of one [`SessionLayer`], seen from a test: seeded, read and made by hand, in
/// the layer's store and under its secret and cookie name.
#[derive(Clone, Debug)]
pub struct Sessions {
    config: Arc<Config>,
}

impl Sessions {
    /// The sessions of `layer`.
    pub fn new(layer: &SessionLayer) -> Self {
        Self {
            config: layer.config().clone(),
        }
    }

    /// The name of the session cookie.
    pub fn cookie_name(&self) -> &str {
        &self.config.name
    }

    /// The cookie value that names session `id`, signed with the layer's first secret.
    pub fn cookie_value(&self, id: &str) -> String {
        self.config.backend.signer().sign(id)
    }

    /// The session id in a cookie value, if its signature is good.
    pub fn id_in(&self, cookie_value: &str) -> Option<String> {
        self.config.backend.signer().verify(cookie_value)
    }

    /// Stores a new session holding `data`, as a request that set every field would, and
    /// answers its id. Its cookie is [`cookie_value`](Self::cookie_value) of the id.
    pub async fn seed<T: SessionData>(&self, data: T) -> Result<String, SessionError> {
        self.config.schemas.check::<T::Tracked>()?;
        let request = RequestInfo::none();
        let mut session = new_session(&self.config, &request, SystemTime::now());
        T::Tracked::new(data).flush(&mut Sink {
            fields: &mut session.record.fields,
            log: &mut session.log,
            owner: &mut session.record.owner,
        });
        let backend = &self.config.backend;
        backend.check_size(&session.record)?;
        backend.create(&session.id, &session.record).await?;
        Ok(session.id)
    }

    /// The data of session `id` as the store has it; `None` if it is not there or has
    /// expired. A field the stored session lacks reads as its default.
    pub async fn read<T: SessionData>(&self, id: &str) -> Result<Option<T>, SessionError> {
        Ok(self
            .record(id)
            .await?
            .map(|record| T::Tracked::load(&record.fields).into_data()))
    }

    /// The record of session `id` as the store has it (fields by stored name, the cookie
    /// state, the owner); `None` if it is not there or has expired.
    pub async fn record(&self, id: &str) -> Result<Option<Record>, SessionError> {
        let record = self.config.backend.get(id).await?;
        Ok(record.filter(|record| !record.is_expired(SystemTime::now())))
    }

    /// A session for a unit test of a function that takes a `TypedSession<T>`: a new session
    /// (a new id, the layer's cookie options) holding `data`, outside any request. Read it
    /// back with [`data`](TypedSession::data); [`save`](TypedSession::save) writes it to the
    /// layer's store, and the other methods work as in a handler. No middleware runs, so
    /// nothing is saved unless the test calls `save`.
    ///
    /// ```
    /// use sessionly::testing::Sessions;
    /// use sessionly::{SessionData, SessionLayer, TypedSession};
    ///
    /// #[derive(SessionData)]
    /// struct Cart {
    ///     items: Vec<u32>,
    /// }
    ///
    /// fn add(session: &mut TypedSession<Cart>, item: u32) {
    ///     session.items_mut().push(item);
    /// }
    ///
    /// let layer = SessionLayer::builder().secret("a test secret of 32 bytes or more").build().unwrap();
    /// let mut session = Sessions::new(&layer).session(Cart { items: vec![1] });
    /// add(&mut session, 2);
    /// assert_eq!(session.items(), &[1, 2]);
    /// ```
    pub fn session<T: SessionData>(&self, data: T) -> TypedSession<T> {
        let handle = Handle::detached_new(self.config.clone());
        let mut tracked = T::Tracked::new(data);
        handle.flush(&mut tracked);
        TypedSession::from_parts(tracked, handle)
    }
}
