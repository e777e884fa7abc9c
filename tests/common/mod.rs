//! Shared pieces of the HTTP tests: a session schema, an app exercising every part of the API,
//! a request helper, and stores that count calls or fail on demand.
#![allow(dead_code)]

pub mod conformance;
pub mod node;

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::time::Duration;

use axum::Router;
use axum::body::Body;
use axum::extract::Path;
use axum::routing::{get, post};
use http::{Request, StatusCode, header};
use http_body_util::BodyExt;
use serde::{Deserialize, Serialize};
use sessionly::store::{Changed, Record, Store};
use sessionly::{MemoryStore, SessionData, SessionError, SessionLayer, StoreError, TypedSession};
use tower::ServiceExt;

pub const SECRET: &str = "keyboard cat, and long enough now";

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Item {
    pub sku: u32,
    pub quantity: u16,
}

#[derive(SessionData, Debug)]
pub struct Visit {
    pub views: u64,
    pub name: Option<String>,
    #[session(flash)]
    pub notice: Option<String>,
    pub cart: Vec<Item>,
    /// Who is signed in: the session's owner, indexed by the store.
    #[session(owner)]
    pub user: Option<String>,
}

pub type Session = TypedSession<Visit>;

/// Every route the tests need, over one schema.
pub fn routes() -> Router {
    Router::new()
        .route("/none", get(|| async { "no session used" }))
        .route(
            "/views",
            get(|mut s: Session| async move {
                *s.views_mut() += 1;
                s.views().to_string()
            }),
        )
        .route(
            "/read",
            get(|s: Session| async move { s.views().to_string() }),
        )
        .route(
            "/maybe",
            get(|s: Option<Session>| async move {
                s.map_or("no session".to_owned(), |s| s.views().to_string())
            }),
        )
        .route(
            "/borrow",
            get(|mut s: Session| async move {
                // Borrowed mutably but left equal: not a modification.
                let views = *s.views_mut();
                views.to_string()
            }),
        )
        .route(
            "/name/{name}",
            get(|mut s: Session, Path(name): Path<String>| async move {
                s.set_name(Some(name));
                "ok"
            }),
        )
        .route(
            "/cart/{sku}",
            get(|mut s: Session, Path(sku): Path<u32>| async move {
                s.cart_mut().push(Item { sku, quantity: 1 });
                s.cart().len().to_string()
            }),
        )
        .route(
            "/summary",
            get(|s: Session| async move { format!("{} {}", s.views(), s.cart().len()) }),
        )
        .route(
            "/whoami",
            get(|s: Session| async move {
                format!("{}:{}", s.name().clone().unwrap_or_default(), s.views())
            }),
        )
        .route(
            "/flash/{msg}",
            post(|mut s: Session, Path(msg): Path<String>| async move {
                s.set_notice(Some(msg));
                "ok"
            }),
        )
        .route(
            "/flash",
            get(|mut s: Session| async move { s.take_notice().unwrap_or_default() }),
        )
        .route("/id", get(|s: Session| async move { s.id() }))
        .route(
            "/regenerate",
            get(|mut s: Session| async move {
                let before = s.id();
                s.regenerate().await?;
                Ok::<_, SessionError>(format!("{before}>{}:{}", s.id(), s.views()))
            }),
        )
        .route(
            "/cycle-id",
            get(|mut s: Session| async move {
                let before = s.id();
                s.cycle_id().await?;
                Ok::<_, SessionError>(format!("{before}>{}:{}", s.id(), s.views()))
            }),
        )
        .route(
            "/login/{name}",
            get(|mut s: Session, Path(name): Path<String>| async move {
                s.regenerate().await?;
                s.set_name(Some(name));
                Ok::<_, SessionError>("welcome")
            }),
        )
        .route(
            "/destroy",
            get(|s: Session| async move {
                s.destroy().await?;
                Ok::<_, SessionError>("bye")
            }),
        )
        .route(
            "/unset",
            get(|mut s: Session| async move {
                *s.views_mut() += 100;
                s.unset();
                "unset"
            }),
        )
        .route(
            "/reload",
            get(|mut s: Session| async move {
                *s.views_mut() += 100;
                s.reload().await?;
                Ok::<_, SessionError>(s.views().to_string())
            }),
        )
        .route(
            "/save",
            get(|mut s: Session| async move {
                *s.views_mut() += 1;
                s.save().await?;
                Ok::<_, SessionError>(s.views().to_string())
            }),
        )
        .route(
            "/save-only",
            get(|mut s: Session| async move {
                s.save().await?;
                Ok::<_, SessionError>("saved")
            }),
        )
        .route(
            "/touch",
            get(|mut s: Session| async move {
                s.touch();
                "touched"
            }),
        )
        .route(
            "/remember",
            get(|mut s: Session| async move {
                s.set_max_age(Some(Duration::from_secs(30 * 24 * 3600)));
                "remembered"
            }),
        )
        .route(
            "/forget",
            get(|mut s: Session| async move {
                s.set_max_age(None);
                "forgotten"
            }),
        )
        .route(
            "/expires-in/{secs}",
            get(|mut s: Session, Path(secs): Path<u64>| async move {
                s.set_expires(Some(
                    std::time::SystemTime::now() + Duration::from_secs(secs),
                ));
                "set"
            }),
        )
        .route(
            "/max-age",
            get(|s: Session| async move {
                let ms = |d: Option<Duration>| {
                    d.map_or("none".to_owned(), |d| d.as_millis().to_string())
                };
                format!("{} {}", ms(s.max_age()), ms(s.original_max_age()))
            }),
        )
        .route(
            "/remember-me",
            get(|mut s: Session| async move {
                const DAY: u64 = 24 * 60 * 60;
                s.set_max_age(Some(Duration::from_secs(30 * DAY)));
                s.set_absolute_lifetime(Some(Duration::from_secs(90 * DAY)));
                "remembered"
            }),
        )
        .route(
            "/lifetimes",
            get(|s: Session| async move {
                let ms = |at: Option<std::time::SystemTime>| {
                    at.and_then(|at| at.duration_since(std::time::UNIX_EPOCH).ok())
                        .map_or("none".to_owned(), |d| d.as_millis().to_string())
                };
                format!(
                    "{} {} {}",
                    ms(s.created()),
                    ms(s.expires()),
                    ms(s.absolute_expiry())
                )
            }),
        )
        .route(
            "/signin/{user}",
            get(|mut s: Session, Path(user): Path<String>| async move {
                s.regenerate().await?;
                s.set_user(Some(user));
                Ok::<_, SessionError>("signed in")
            }),
        )
        .route(
            "/signout",
            get(|mut s: Session| async move {
                s.set_user(None);
                "signed out"
            }),
        )
        .route(
            "/sessions",
            get(|mut s: Session| async move {
                let list = s.owner_sessions().await?;
                Ok::<_, SessionError>(list.len().to_string())
            }),
        )
        .route(
            "/logout-others",
            get(|mut s: Session| async move {
                let count = s.destroy_other_sessions().await?;
                Ok::<_, SessionError>(count.to_string())
            }),
        )
        .route(
            "/logout-everywhere",
            get(|s: Session| async move {
                let count = s.destroy_all_sessions().await?;
                Ok::<_, SessionError>(count.to_string())
            }),
        )
        .route(
            "/fail",
            get(|mut s: Session| async move {
                *s.views_mut() += 1;
                StatusCode::INTERNAL_SERVER_ERROR
            }),
        )
}

pub fn app(layer: SessionLayer) -> Router {
    routes().layer(layer)
}

/// A layer with the given store and the secret, other options from `configure`.
pub fn layer_with(
    store: impl sessionly::store::IntoBackend,
    configure: impl FnOnce(sessionly::SessionLayerBuilder) -> sessionly::SessionLayerBuilder,
) -> SessionLayer {
    configure(SessionLayer::builder().secret(SECRET).store(store))
        .build()
        .expect("valid test configuration")
}

/// What a response said, as the tests look at it.
#[derive(Debug)]
pub struct Reply {
    pub status: StatusCode,
    pub body: String,
    pub set_cookies: Vec<String>,
}

impl Reply {
    /// The `Set-Cookie` for the cookie `name`, if any.
    pub fn set_cookie_named(&self, name: &str) -> Option<&str> {
        self.set_cookies
            .iter()
            .map(String::as_str)
            .find(|c| c.starts_with(&format!("{name}=")))
    }

    /// The `Set-Cookie` for `connect.sid`.
    pub fn set_cookie(&self) -> Option<&str> {
        self.set_cookie_named("connect.sid")
    }

    /// The `name=value` pair to send back, from the `connect.sid` `Set-Cookie`.
    pub fn cookie(&self) -> Option<String> {
        self.set_cookie()
            .map(|c| c.split(';').next().unwrap_or_default().to_owned())
    }

    /// The session id the `connect.sid` cookie carries (unverified).
    pub fn cookie_id(&self) -> Option<String> {
        self.cookie().map(|c| id_of(&c))
    }

    /// Whether the `connect.sid` `Set-Cookie` has the attribute `attr` (e.g. `HttpOnly`,
    /// `SameSite=Lax`), case-sensitive, as a whole `;`-separated part.
    pub fn has_attr(&self, attr: &str) -> bool {
        self.set_cookie()
            .is_some_and(|c| c.split(';').any(|part| part.trim() == attr))
    }

    /// The value of attribute `name` (e.g. `Expires`) on the `connect.sid` `Set-Cookie`.
    pub fn attr(&self, name: &str) -> Option<String> {
        self.set_cookie()?.split(';').find_map(|part| {
            let (k, v) = part.trim().split_once('=')?;
            k.eq_ignore_ascii_case(name).then(|| v.to_owned())
        })
    }
}

/// The id inside a `connect.sid=s%3A<id>.<mac>` pair.
pub fn id_of(pair: &str) -> String {
    let value = pair.split_once('=').map_or(pair, |(_, v)| v);
    let value = value
        .replace("%3A", ":")
        .replace("%2B", "+")
        .replace("%2F", "/");
    let signed = value.strip_prefix("s:").unwrap_or(&value);
    signed
        .rsplit_once('.')
        .map_or(signed, |(id, _)| id)
        .to_owned()
}

/// Sends a request built by `build` to `app`.
pub async fn send_request(app: &Router, request: Request<Body>) -> Reply {
    let response = app
        .clone()
        .oneshot(request)
        .await
        .expect("infallible router");
    let status = response.status();
    let set_cookies = response
        .headers()
        .get_all(header::SET_COOKIE)
        .iter()
        .map(|v| v.to_str().expect("ascii Set-Cookie").to_owned())
        .collect();
    let body = response
        .into_body()
        .collect()
        .await
        .expect("body")
        .to_bytes();
    Reply {
        status,
        body: String::from_utf8_lossy(&body).into_owned(),
        set_cookies,
    }
}

/// `GET path`, with `cookie` as the `Cookie` header if given.
pub async fn get_with(app: &Router, path: &str, cookie: Option<&str>) -> Reply {
    send_request(app, request("GET", path, cookie)).await
}

pub fn request(method: &str, path: &str, cookie: Option<&str>) -> Request<Body> {
    let mut builder = Request::builder().method(method).uri(path);
    if let Some(cookie) = cookie {
        builder = builder.header(header::COOKIE, cookie);
    }
    builder.body(Body::empty()).expect("valid request")
}

/// A store that counts the calls it passes on to a memory store.
#[derive(Clone, Default)]
pub struct Counting {
    pub inner: MemoryStore,
    pub gets: Arc<AtomicUsize>,
    pub sets: Arc<AtomicUsize>,
    pub touches: Arc<AtomicUsize>,
    pub destroys: Arc<AtomicUsize>,
}

impl Counting {
    pub fn counts(&self) -> [usize; 4] {
        [&self.gets, &self.sets, &self.touches, &self.destroys].map(|c| c.load(Ordering::SeqCst))
    }
}

impl Store for Counting {
    async fn get(&self, id: &str) -> Result<Option<Record>, StoreError> {
        self.gets.fetch_add(1, Ordering::SeqCst);
        self.inner.get(id).await
    }
    async fn set(&self, id: &str, record: &Record, changed: Changed<'_>) -> Result<(), StoreError> {
        self.sets.fetch_add(1, Ordering::SeqCst);
        self.inner.set(id, record, changed).await
    }
    async fn destroy(&self, id: &str) -> Result<(), StoreError> {
        self.destroys.fetch_add(1, Ordering::SeqCst);
        self.inner.destroy(id).await
    }
    async fn touch(&self, id: &str, record: &Record) -> Result<(), StoreError> {
        self.touches.fetch_add(1, Ordering::SeqCst);
        self.inner.touch(id, record).await
    }
}

/// A memory store that can be switched off to play an outage; it counts the calls made to it.
#[derive(Clone, Default)]
pub struct Flaky {
    pub inner: MemoryStore,
    pub down: Arc<AtomicBool>,
    pub calls: Arc<AtomicUsize>,
}

impl Flaky {
    fn check(&self) -> Result<(), StoreError> {
        self.calls.fetch_add(1, Ordering::SeqCst);
        if self.down.load(Ordering::SeqCst) {
            Err(StoreError::backend("flaky", "connection refused"))
        } else {
            Ok(())
        }
    }
    pub fn set_down(&self, down: bool) {
        self.down.store(down, Ordering::SeqCst);
    }
}

impl Store for Flaky {
    async fn get(&self, id: &str) -> Result<Option<Record>, StoreError> {
        self.check()?;
        self.inner.get(id).await
    }
    async fn set(&self, id: &str, record: &Record, changed: Changed<'_>) -> Result<(), StoreError> {
        self.check()?;
        self.inner.set(id, record, changed).await
    }
    async fn destroy(&self, id: &str) -> Result<(), StoreError> {
        self.check()?;
        self.inner.destroy(id).await
    }
    async fn touch(&self, id: &str, record: &Record) -> Result<(), StoreError> {
        self.check()?;
        self.inner.touch(id, record).await
    }
}

/// A memory store that yields to the runtime before every call, as a networked store would, so
/// requests that share a session get the chance to interleave.
#[derive(Clone, Default)]
pub struct Yielding(pub MemoryStore);

impl Store for Yielding {
    async fn get(&self, id: &str) -> Result<Option<Record>, StoreError> {
        tokio::time::sleep(Duration::from_millis(1)).await;
        self.0.get(id).await
    }
    async fn set(&self, id: &str, record: &Record, changed: Changed<'_>) -> Result<(), StoreError> {
        tokio::time::sleep(Duration::from_millis(1)).await;
        self.0.set(id, record, changed).await
    }
    async fn destroy(&self, id: &str) -> Result<(), StoreError> {
        self.0.destroy(id).await
    }
}

/// The store suite's race checks (`sessionly::testing::conformance`), under the names the
/// store tests use.
pub async fn no_lost_updates(store: impl Store) {
    sessionly::testing::conformance::no_lost_updates(store).await;
}

pub async fn no_lost_updates_with(
    store: impl Store,
    configure: impl FnOnce(sessionly::SessionLayerBuilder) -> sessionly::SessionLayerBuilder,
) {
    sessionly::testing::conformance::no_lost_updates_with(store, configure).await;
}

pub async fn different_fields_survive_two_processes(store: impl Store + Clone) {
    sessionly::testing::conformance::different_fields_survive_two_processes(&store).await;
}

/// A loopback port nothing listens on right now, for a server of a test's own.
pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|listener| listener.local_addr())
        .expect("a free loopback port")
        .port()
}

/// Holds a request inside its handler: the handler says when it has its session, then waits
/// to be let go.
#[derive(Clone, Default)]
pub struct Gate {
    pub loaded: Arc<tokio::sync::Notify>,
    pub release: Arc<tokio::sync::Notify>,
}

/// The app of `routes()` plus `/slow-write`, `/slow-save` and `/slow-read`, which load the
/// session, wait at `gate`, then change `views` (and save it explicitly), or only read it.
pub fn gated_app(layer: SessionLayer, gate: Gate) -> Router {
    let write = gate.clone();
    routes()
        .route(
            "/slow-write",
            get(move |mut s: Session| async move {
                write.loaded.notify_one();
                write.release.notified().await;
                *s.views_mut() += 1;
                s.views().to_string()
            }),
        )
        .route(
            "/slow-save",
            get({
                let gate = gate.clone();
                move |mut s: Session| async move {
                    gate.loaded.notify_one();
                    gate.release.notified().await;
                    *s.views_mut() += 1;
                    s.save().await?;
                    Ok::<_, SessionError>("saved")
                }
            }),
        )
        .route(
            "/slow-read",
            get(move |s: Session| async move {
                gate.loaded.notify_one();
                gate.release.notified().await;
                s.views().to_string()
            }),
        )
        .layer(layer)
}

pub async fn a_slow_request_cannot_resurrect(store: impl Store + Clone) {
    sessionly::testing::conformance::a_slow_request_cannot_resurrect(&store).await;
}

/// "Log out other devices", then a login that keeps the visitor's session (`cycle_id`).
pub async fn log_out_other_devices(store: impl Store + Clone) {
    sessionly::testing::conformance::log_out_other_devices(&store).await;
    sessionly::testing::conformance::a_login_keeps_the_session(&store).await;
}

/// The shared test Redis (`.ci/run` starts it and exports `REDIS_URL`).
pub fn redis_url() -> String {
    std::env::var("REDIS_URL").unwrap_or_else(|_| "redis://127.0.0.1:6379".to_owned())
}

/// The nodes of the test Redis Cluster (`.ci/run` starts three and exports
/// `REDIS_CLUSTER_NODES`).
pub fn cluster_nodes() -> Vec<String> {
    std::env::var("REDIS_CLUSTER_NODES")
        .unwrap_or_else(|_| {
            "redis://127.0.0.1:46371,redis://127.0.0.1:46372,redis://127.0.0.1:46373".to_owned()
        })
        .split(',')
        .map(str::to_owned)
        .collect()
}

/// The shared test PostgreSQL (`.ci/run` starts it and exports `DATABASE_URL`).
pub fn database_url() -> String {
    std::env::var("DATABASE_URL")
        .unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/postgres".to_owned())
}

/// The shared test MariaDB (`.ci/run` starts it and exports `MYSQL_URL`).
pub fn mysql_url() -> String {
    std::env::var("MYSQL_URL")
        .unwrap_or_else(|_| "mysql://sessions:sessions@127.0.0.1:53306/sessions".to_owned())
}

/// A plain connection to the shared test Redis, to look behind a store's back.
pub async fn raw() -> ::redis::aio::MultiplexedConnection {
    ::redis::Client::open(redis_url())
        .unwrap()
        .get_multiplexed_async_connection()
        .await
        .unwrap()
}

/// What a `tracing` subscriber printed, kept for a test to read.
#[derive(Clone, Default)]
pub struct Captured(Arc<std::sync::Mutex<Vec<u8>>>);

impl std::io::Write for Captured {
    fn write(&mut self, bytes: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(bytes);
        Ok(bytes.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

impl Captured {
    /// The text printed so far.
    pub fn text(&self) -> String {
        String::from_utf8(self.0.lock().unwrap().clone()).unwrap()
    }
}

/// Prints events of `level` and above into the returned `Captured`, on this thread, until the
/// guard is dropped.
pub fn capture_logs(level: tracing_subscriber::filter::LevelFilter) -> (Captured, impl Sized) {
    let captured = Captured::default();
    let writer = captured.clone();
    let subscriber = tracing_subscriber::fmt()
        .with_max_level(level)
        .with_ansi(false)
        .with_writer(move || writer.clone())
        .finish();
    let guard = tracing_subscriber::util::SubscriberInitExt::set_default(subscriber);
    (captured, guard)
}
