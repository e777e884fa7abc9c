//! Shared pieces of the HTTP tests: a session schema, an app exercising every part of the API,
//! a request helper, and stores that count calls or fail on demand.
#![allow(dead_code)]

pub mod conformance;

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
use sessionly::{
    Changed, Codec, MemoryStore, Postcard, Record, SessionData, SessionError, SessionLayer, Store,
    StoreError, TypedSession,
};
use tower::ServiceExt;

pub const SECRET: &str = "keyboard cat";

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
    store: impl Store,
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

/// The lost-update check every store runs over HTTP: 64 concurrent requests on one session,
/// half increment `views`, half push to `cart`; afterwards every write is visible.
pub async fn no_lost_updates(store: impl Store) {
    no_lost_updates_with(store, |b| b).await;
}

/// [`no_lost_updates`] with more options set on the layer.
pub async fn no_lost_updates_with(
    store: impl Store,
    configure: impl FnOnce(sessionly::SessionLayerBuilder) -> sessionly::SessionLayerBuilder,
) {
    let app = app(layer_with(store, |b| configure(b.resave(false))));
    let cookie = get_with(&app, "/name/start", None).await.cookie().unwrap();
    let tasks: Vec<_> = (0..64u32)
        .map(|i| {
            let (app, cookie) = (app.clone(), cookie.clone());
            tokio::spawn(async move {
                let path = if i % 2 == 0 {
                    "/views".to_owned()
                } else {
                    format!("/cart/{i}")
                };
                get_with(&app, &path, Some(&cookie)).await.status
            })
        })
        .collect();
    for task in tasks {
        assert_eq!(task.await.expect("request task"), StatusCode::OK);
    }
    assert_eq!(
        get_with(&app, "/summary", Some(&cookie)).await.body,
        "32 32"
    );
    assert_eq!(
        get_with(&app, "/whoami", Some(&cookie)).await.body,
        "start:32"
    );
}

/// Two layers on one store stand for two app processes: their locks do not see each other, so
/// only the store's field-level writes keep both changes when two requests write different
/// fields of one session at once.
pub async fn different_fields_survive_two_processes(store: impl Store + Clone) {
    let one = app(layer_with(store.clone(), |b| b.resave(false)));
    let two = app(layer_with(store.clone(), |b| b.resave(false)));
    let cookie = get_with(&one, "/views", None).await.cookie().unwrap();
    let tasks: Vec<_> = (0..32u32)
        .map(|i| {
            let app = if i % 2 == 0 { one.clone() } else { two.clone() };
            let cookie = cookie.clone();
            let path = match i {
                0 => "/name/ada".to_owned(),
                1 => "/cart/1".to_owned(),
                _ => "/read".to_owned(),
            };
            tokio::spawn(async move { get_with(&app, &path, Some(&cookie)).await.status })
        })
        .collect();
    for task in tasks {
        assert_eq!(task.await.unwrap(), 200);
    }
    let record = store.get(&id_of(&cookie)).await.unwrap().unwrap();
    let name: Option<String> = Postcard::decode(&record.fields["name"]).unwrap();
    let cart: Vec<Item> = Postcard::decode(&record.fields["cart"]).unwrap();
    assert_eq!((name.as_deref(), cart.len()), (Some("ada"), 1));
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

/// No resurrection, over HTTP and across two processes (two layers on one store): a slow
/// request loads a session, another process ends it (logout, a login that regenerates it, "log
/// out other devices"), then the slow request finishes. Afterwards the old id is dead in the
/// store and the slow response does not hand it back to the client.
pub async fn a_slow_request_cannot_resurrect(store: impl Store + Clone) {
    let hour = sessionly::CookieOptions::new().max_age(Duration::from_secs(3600));
    for cookie in [sessionly::CookieOptions::new(), hour] {
        for slow in ["/slow-write", "/slow-read"] {
            for ender in [
                "/destroy",
                "/regenerate",
                "/logout-others",
                "/logout-everywhere",
            ] {
                race_an_ending(&store, &cookie, slow, ender).await;
            }
        }
    }
}

/// One case of `a_slow_request_cannot_resurrect`.
async fn race_an_ending(
    store: &(impl Store + Clone),
    cookie: &sessionly::CookieOptions,
    slow: &'static str,
    ender: &str,
) {
    let case = format!("{slow} racing {ender}, {cookie:?}");
    let gate = Gate::default();
    // rolling: the read-only request would otherwise send no cookie anyway.
    let layer = |store| {
        layer_with(store, |b| {
            b.resave(false).rolling(true).cookie(cookie.clone())
        })
    };
    let one = gated_app(layer(store.clone()), gate.clone());
    let two = gated_app(layer(store.clone()), Gate::default());
    let victim = get_with(&one, "/signin/ada", None).await.cookie().unwrap();
    let other = get_with(&two, "/signin/ada", None).await.cookie().unwrap();
    let old_id = id_of(&victim);
    assert!(
        store.get(&old_id).await.unwrap().is_some(),
        "{case}: stored"
    );

    let slow_request = tokio::spawn({
        let (one, victim) = (one.clone(), victim.clone());
        async move { get_with(&one, slow, Some(&victim)).await }
    });
    gate.loaded.notified().await;
    let ended = match ender {
        "/logout-others" => get_with(&two, ender, Some(&other)).await,
        _ => get_with(&two, ender, Some(&victim)).await,
    };
    assert_eq!(ended.status, StatusCode::OK, "{case}: {}", ended.body);
    gate.release.notify_one();
    let late = slow_request.await.expect("slow request task");

    assert_eq!(late.status, StatusCode::OK, "{case}");
    assert_eq!(
        late.cookie_id().as_deref().filter(|id| *id == old_id),
        None,
        "{case}: the late response resends the dead id"
    );
    assert_eq!(
        store.get(&old_id).await.unwrap(),
        None,
        "{case}: the old id was written back"
    );
    let after = get_with(&one, "/read", Some(&victim)).await;
    assert_eq!(
        after.body, "0",
        "{case}: the old cookie still opens a session"
    );
    assert_ne!(
        after.cookie_id().as_deref(),
        Some(old_id.as_str()),
        "{case}"
    );
    store.destroy_sessions_of("ada", None).await.unwrap();
}

/// The per-owner index over HTTP: three devices of one user and one of another; "log out
/// other devices" keeps the current one, "log out everywhere" ends them all, and signing out
/// (the owner field back to `None`) takes a session out of the index.
pub async fn log_out_other_devices(store: impl Store + Clone) {
    let app = app(layer_with(store.clone(), |b| b.resave(false)));
    for user in ["grace", "linus"] {
        store.destroy_sessions_of(user, None).await.unwrap();
    }
    let mut devices = Vec::new();
    for _ in 0..3 {
        let reply = get_with(&app, "/signin/grace", None).await;
        devices.push(reply.cookie().unwrap());
    }
    let linus = get_with(&app, "/signin/linus", None)
        .await
        .cookie()
        .unwrap();
    let anonymous = get_with(&app, "/views", None).await.cookie().unwrap();
    assert_eq!(
        get_with(&app, "/sessions", Some(&devices[0])).await.body,
        "3"
    );
    assert_eq!(
        get_with(&app, "/sessions", Some(&anonymous)).await.body,
        "0"
    );

    // Signing out of one device takes it out of the index; the session stays.
    get_with(&app, "/signout", Some(&devices[2])).await;
    assert_eq!(
        get_with(&app, "/sessions", Some(&devices[0])).await.body,
        "2"
    );

    let others = get_with(&app, "/logout-others", Some(&devices[0])).await;
    assert_eq!(others.body, "1", "device 1 only");
    assert_eq!(others.set_cookie(), None, "this device keeps its cookie");
    let alive = |cookie: &str| {
        let (store, id) = (store.clone(), id_of(cookie));
        async move { store.get(&id).await.unwrap().is_some() }
    };
    assert!(!alive(&devices[1]).await);
    assert!(alive(&devices[0]).await && alive(&devices[2]).await && alive(&linus).await);
    assert_eq!(
        get_with(&app, "/sessions", Some(&devices[0])).await.body,
        "1"
    );

    let newest = get_with(&app, "/signin/grace", None)
        .await
        .cookie()
        .unwrap();
    let everywhere = get_with(&app, "/logout-everywhere", Some(&newest)).await;
    assert_eq!(everywhere.body, "2");
    assert!(
        everywhere.has_attr("Expires=Thu, 01 Jan 1970 00:00:00 GMT"),
        "cookie cleared"
    );
    assert!(!alive(&devices[0]).await && !alive(&newest).await);
    assert!(alive(&linus).await && alive(&anonymous).await);
    assert_eq!(get_with(&app, "/sessions", Some(&linus)).await.body, "1");
}
