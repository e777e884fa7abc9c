//! The store behind a layer, over HTTP, with requests that race.

use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use axum::extract::Path;
use axum::routing::get;
use serde::{Deserialize, Serialize};
use tokio::sync::Notify;

use crate::store::Store;
use crate::testing::{Sessions, TestClient};
use crate::{CookieOptions, SessionData, SessionError, SessionLayer, TypedSession};

use super::{STORE, has_owner_index, optional};

/// The name of the session cookie in these checks (the default).
const COOKIE: &str = "connect.sid";

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
struct Item {
    sku: u32,
}

/// The data the checks' app keeps: a counter, a name, a list and an owner.
#[derive(SessionData)]
struct Probe {
    views: u64,
    name: Option<String>,
    cart: Vec<Item>,
    #[session(owner)]
    user: Option<String>,
}

type Session = TypedSession<Probe>;

/// Holds a request inside its handler: the handler says when it has its session, then waits
/// to be let go.
#[derive(Clone, Default)]
struct Gate {
    loaded: Arc<Notify>,
    release: Arc<Notify>,
}

/// The checks' app: each route does one thing to the session and answers what it saw.
fn app(layer: SessionLayer, gate: Gate) -> Router {
    let (write, read, cycle) = (gate.clone(), gate.clone(), gate);
    Router::new()
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
            "/name/{name}",
            get(|mut s: Session, Path(name): Path<String>| async move {
                s.set_name(Some(name));
            }),
        )
        .route(
            "/cart/{sku}",
            get(|mut s: Session, Path(sku): Path<u32>| async move {
                s.cart_mut().push(Item { sku });
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
            }),
        )
        .route(
            "/sessions",
            get(|mut s: Session| async move {
                Ok::<_, SessionError>(s.owner_sessions().await?.len().to_string())
            }),
        )
        .route(
            "/logout-others",
            get(|mut s: Session| async move {
                Ok::<_, SessionError>(s.destroy_other_sessions().await?.to_string())
            }),
        )
        .route(
            "/logout-everywhere",
            get(|s: Session| async move {
                Ok::<_, SessionError>(s.destroy_all_sessions().await?.to_string())
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
            "/regenerate",
            get(|mut s: Session| async move {
                s.regenerate().await?;
                Ok::<_, SessionError>("regenerated")
            }),
        )
        .route(
            "/cycle-id",
            get(|mut s: Session| async move {
                s.cycle_id().await?;
                Ok::<_, SessionError>("cycled")
            }),
        )
        .route(
            "/login/{user}",
            get(|mut s: Session, Path(user): Path<String>| async move {
                s.cycle_id().await?;
                s.set_user(Some(user));
                Ok::<_, SessionError>("logged in")
            }),
        )
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
            "/slow-cycle",
            get(move |mut s: Session| async move {
                cycle.loaded.notify_one();
                cycle.release.notified().await;
                match s.cycle_id().await {
                    Ok(()) => "cycled",
                    Err(SessionError::NotFound) => "ended",
                    Err(_) => "failed",
                }
            }),
        )
        .route(
            "/slow-read",
            get(move |s: Session| async move {
                read.loaded.notify_one();
                read.release.notified().await;
                s.views().to_string()
            }),
        )
        .layer(layer)
}

fn layer(
    store: impl Store,
    configure: impl FnOnce(crate::SessionLayerBuilder) -> crate::SessionLayerBuilder,
) -> SessionLayer {
    configure(
        SessionLayer::builder()
            .secret("the conformance checks' secret, 32+ bytes")
            .store(store),
    )
    .build()
    .expect("a valid layer")
}

/// `GET path` on `app` with the session cookie `cookie` (a cookie value), as a browser of its
/// own: its status, body, and the session cookie it holds afterwards.
async fn get_as(app: &Router, path: &str, cookie: Option<&str>) -> Reply {
    let client = TestClient::new(app.clone());
    if let Some(cookie) = cookie {
        client.set_cookie(COOKIE, cookie);
    }
    let response = client.get(path).await;
    Reply {
        status: response.status().as_u16(),
        body: response.text(),
        set: response.set_cookie(COOKIE).map(str::to_owned),
        cookie: client.cookie(COOKIE),
    }
}

struct Reply {
    status: u16,
    body: String,
    /// The response's `Set-Cookie` for the session cookie.
    set: Option<String>,
    /// The session cookie the client holds after the response.
    cookie: Option<String>,
}

impl Reply {
    fn cookie(&self, case: &str) -> String {
        self.cookie
            .clone()
            .unwrap_or_else(|| panic!("{case}: no session cookie"))
    }
}

/// Every race check (those of the per-owner index only if the store has one): [`no_lost_updates`],
/// [`different_fields_survive_two_processes`], [`a_slow_request_cannot_resurrect`],
/// [`log_out_other_devices`] and [`a_login_keeps_the_session`]. Sessions of the owners `ada`,
/// `grace`, `linus` and `joan` are deleted along the way. Takes a few seconds.
///
/// ```
/// # tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap().block_on(async {
/// sessionly::testing::conformance::races(&sessionly::MemoryStore::new()).await;
/// # });
/// ```
pub async fn races<S: Store + Clone>(store: &S) {
    no_lost_updates(store.clone()).await;
    different_fields_survive_two_processes(store).await;
    a_slow_request_cannot_resurrect(store).await;
    log_out_other_devices(store).await;
    a_login_keeps_the_session(store).await;
}

/// 64 concurrent requests on one session through one layer (`lock_sessions` on, as by
/// default), half incrementing a counter, half adding to a list: afterwards every write is
/// there.
pub async fn no_lost_updates(store: impl Store) {
    no_lost_updates_with(store, |b| b).await;
}

/// [`no_lost_updates`] with the layer's options set by `configure` (such as `lazy_load`).
pub async fn no_lost_updates_with(
    store: impl Store,
    configure: impl FnOnce(crate::SessionLayerBuilder) -> crate::SessionLayerBuilder,
) {
    let app = app(layer(store, configure), Gate::default());
    let cookie = get_as(&app, "/name/start", None)
        .await
        .cookie("lost updates");
    let tasks: Vec<_> = (0..64u32)
        .map(|i| {
            let (app, cookie) = (app.clone(), cookie.clone());
            tokio::spawn(async move {
                let path = if i % 2 == 0 {
                    "/views".to_owned()
                } else {
                    format!("/cart/{i}")
                };
                get_as(&app, &path, Some(&cookie)).await.status
            })
        })
        .collect();
    for task in tasks {
        assert_eq!(task.await.expect("a request task"), 200, "lost updates");
    }
    let summary = get_as(&app, "/summary", Some(&cookie)).await.body;
    assert_eq!(summary, "32 32", "lost updates: views and list items kept");
    let whoami = get_as(&app, "/whoami", Some(&cookie)).await.body;
    assert_eq!(whoami, "start:32", "lost updates: the untouched field kept");
}

/// Two layers on one store stand for two processes: their per-session turns do not see each
/// other, so only the store's field patches keep both changes when concurrent requests write
/// different fields of one session.
pub async fn different_fields_survive_two_processes<S: Store + Clone>(store: &S) {
    let one = app(layer(store.clone(), |b| b), Gate::default());
    let two = app(layer(store.clone(), |b| b), Gate::default());
    let cookie = get_as(&one, "/views", None).await.cookie("two processes");
    let tasks: Vec<_> = (0..32u32)
        .map(|i| {
            let app = if i % 2 == 0 { one.clone() } else { two.clone() };
            let cookie = cookie.clone();
            let path = match i {
                0 => "/name/ada".to_owned(),
                1 => "/cart/1".to_owned(),
                _ => "/read".to_owned(),
            };
            tokio::spawn(async move { get_as(&app, &path, Some(&cookie)).await.status })
        })
        .collect();
    for task in tasks {
        assert_eq!(task.await.expect("a request task"), 200, "two processes");
    }
    let whoami = get_as(&one, "/whoami", Some(&cookie)).await.body;
    let summary = get_as(&two, "/summary", Some(&cookie)).await.body;
    assert_eq!(
        (whoami.as_str(), summary.as_str()),
        ("ada:1", "1 1"),
        "two processes: both fields written"
    );
}

/// No resurrection, across two layers on one store: a slow request loads a session, the other
/// layer ends it (logout, a login that regenerates it or changes its id, "log out other
/// devices" or "everywhere"), then the slow request finishes, writing, only reading, or giving
/// the session a new id (which must answer `NotFound`). Afterwards the old
/// id is dead in the store and the slow response does not hand it back.
pub async fn a_slow_request_cannot_resurrect<S: Store + Clone>(store: &S) {
    let hour = CookieOptions::new().max_age(Duration::from_secs(3600));
    let index = has_owner_index(store).await;
    for cookie in [CookieOptions::new(), hour] {
        for slow in ["/slow-write", "/slow-read", "/slow-cycle"] {
            for ender in [
                "/destroy",
                "/regenerate",
                "/cycle-id",
                "/logout-others",
                "/logout-everywhere",
            ] {
                if ender.starts_with("/logout") && !index {
                    continue;
                }
                race_an_ending(store, &cookie, slow, ender).await;
            }
        }
    }
}

async fn race_an_ending<S: Store + Clone>(
    store: &S,
    cookie: &CookieOptions,
    slow: &'static str,
    ender: &str,
) {
    let case = format!("no resurrection: {slow} racing {ender}, {cookie:?}");
    let gate = Gate::default();
    // rolling: a read-only request would otherwise send no cookie anyway.
    let configure = |b: crate::SessionLayerBuilder| b.rolling(true).cookie(cookie.clone());
    let one_layer = layer(store.clone(), configure);
    let sessions = Sessions::new(&one_layer);
    let one = app(one_layer, gate.clone());
    let two = app(layer(store.clone(), configure), Gate::default());
    let victim = get_as(&one, "/signin/ada", None).await.cookie(&case);
    let other = get_as(&two, "/signin/ada", None).await.cookie(&case);
    let old_id = sessions.id_in(&victim).expect("a signed cookie");
    assert!(
        store.get(&old_id).await.expect(STORE).is_some(),
        "{case}: stored"
    );

    let slow_request = tokio::spawn({
        let (one, victim) = (one.clone(), victim.clone());
        async move { get_as(&one, slow, Some(&victim)).await }
    });
    gate.loaded.notified().await;
    let ended = match ender {
        "/logout-others" => get_as(&two, ender, Some(&other)).await,
        _ => get_as(&two, ender, Some(&victim)).await,
    };
    assert_eq!(ended.status, 200, "{case}: {}", ended.body);
    gate.release.notify_one();
    let late = slow_request.await.expect("the slow request's task");

    assert_eq!(late.status, 200, "{case}");
    if slow == "/slow-cycle" {
        // A login that loaded the session before it ended must not move it to a new id.
        assert_eq!(late.body, "ended", "{case}: cycle_id of an ended session");
    }
    let resent = late
        .set
        .as_deref()
        .and_then(|set| set.split(';').next())
        .and_then(|pair| pair.split_once('='))
        .and_then(|(_, value)| sessions.id_in(value));
    assert_ne!(
        resent.as_deref(),
        Some(old_id.as_str()),
        "{case}: the late response resends the dead id"
    );
    assert_eq!(
        store.get(&old_id).await.expect(STORE),
        None,
        "{case}: the old id was written back"
    );
    let after = get_as(&one, "/read", Some(&victim)).await;
    assert_eq!(
        after.body, "0",
        "{case}: the old cookie still opens a session"
    );
    for cookie in [&victim, &other] {
        let id = sessions.id_in(cookie).expect("a signed cookie");
        store.destroy(&id).await.expect(STORE);
    }
}

/// The per-owner index over HTTP: three devices of one user and one of another; "log out
/// other devices" keeps the current one, "log out everywhere" ends them all, and signing out
/// (the owner field back to `None`) takes a session out of the index.
pub async fn log_out_other_devices<S: Store + Clone>(store: &S) {
    let case = "log out other devices";
    if !has_owner_index(store).await {
        return;
    }
    let app = app(layer(store.clone(), |b| b), Gate::default());
    for user in ["grace", "linus"] {
        optional(store)
            .destroy_sessions_of(user, None)
            .await
            .expect(STORE);
    }
    let mut devices = Vec::new();
    for _ in 0..3 {
        devices.push(get_as(&app, "/signin/grace", None).await.cookie(case));
    }
    let linus = get_as(&app, "/signin/linus", None).await.cookie(case);
    let anonymous = get_as(&app, "/views", None).await.cookie(case);
    let count = |cookie: String| {
        let app = app.clone();
        async move { get_as(&app, "/sessions", Some(&cookie)).await.body }
    };
    assert_eq!(count(devices[0].clone()).await, "3", "{case}: listed");
    assert_eq!(count(anonymous.clone()).await, "0", "{case}: nobody's");

    get_as(&app, "/signout", Some(&devices[2])).await;
    assert_eq!(count(devices[0].clone()).await, "2", "{case}: signed out");

    let others = get_as(&app, "/logout-others", Some(&devices[0])).await;
    assert_eq!(others.body, "1", "{case}: device 1 only");
    assert_eq!(others.set, None, "{case}: this device keeps its cookie");
    let sessions = Sessions::new(&layer(store.clone(), |b| b));
    let alive = |cookie: &str| {
        let id = sessions.id_in(cookie).expect("a signed cookie");
        async move { store.get(&id).await.expect(STORE).is_some() }
    };
    assert!(!alive(&devices[1]).await, "{case}: device 1 ended");
    assert!(
        alive(&devices[0]).await && alive(&devices[2]).await && alive(&linus).await,
        "{case}: the others stay"
    );

    let newest = get_as(&app, "/signin/grace", None).await.cookie(case);
    let everywhere = get_as(&app, "/logout-everywhere", Some(&newest)).await;
    assert_eq!(everywhere.body, "2", "{case}: everywhere");
    assert_eq!(everywhere.cookie, None, "{case}: the cookie cleared");
    assert!(!alive(&devices[0]).await && !alive(&newest).await, "{case}");
    assert!(
        alive(&linus).await && alive(&anonymous).await,
        "{case}: others' stay"
    );
    assert_eq!(count(linus).await, "1", "{case}");
    optional(store)
        .destroy_sessions_of("linus", None)
        .await
        .expect(STORE);
}

/// A login with `cycle_id`: the visitor's session moves to a new id with its data (a counter
/// and a cart), its creation time and expiry, and joins its owner's index once; the old id is
/// gone from the store and its cookie opens an empty session. A session the store never held
/// changes its id without being stored.
pub async fn a_login_keeps_the_session<S: Store + Clone>(store: &S) {
    let case = "a login keeps the session (cycle_id)";
    let hour = CookieOptions::new().max_age(Duration::from_secs(3600));
    let one_layer = layer(store.clone(), |b| b.cookie(hour));
    let sessions = Sessions::new(&one_layer);
    let app = app(one_layer, Gate::default());
    let index = has_owner_index(store).await;
    if index {
        optional(store)
            .destroy_sessions_of("joan", None)
            .await
            .expect(STORE);
    }

    let visitor = get_as(&app, "/cart/7", None).await.cookie(case);
    get_as(&app, "/views", Some(&visitor)).await;
    let old_id = sessions.id_in(&visitor).expect("a signed cookie");
    let before = store.get(&old_id).await.expect(STORE).expect("stored");

    let login = get_as(&app, "/login/joan", Some(&visitor)).await;
    assert_eq!(
        (login.status, login.body.as_str()),
        (200, "logged in"),
        "{case}"
    );
    let member = login.cookie(case);
    let new_id = sessions.id_in(&member).expect("a signed cookie");
    assert_ne!(new_id, old_id, "{case}: a new id");
    assert_eq!(
        store.get(&old_id).await.expect(STORE),
        None,
        "{case}: the old id deleted"
    );
    let after = store.get(&new_id).await.expect(STORE);
    let after = after.unwrap_or_else(|| panic!("{case}: stored under the new id"));
    assert_eq!(after.owner.as_deref(), Some("joan"), "{case}: the owner");
    assert_eq!(
        after.cookie.created(),
        before.cookie.created(),
        "{case}: the lifetime kept (created)"
    );
    assert_eq!(
        after.cookie.original_max_age(),
        before.cookie.original_max_age(),
        "{case}: the lifetime kept (max age)"
    );
    assert_eq!(
        get_as(&app, "/summary", Some(&member)).await.body,
        "1 1",
        "{case}: the data kept"
    );
    assert_eq!(
        get_as(&app, "/read", Some(&visitor)).await.body,
        "0",
        "{case}: the old cookie opens a session"
    );
    if index {
        assert_eq!(
            get_as(&app, "/sessions", Some(&member)).await.body,
            "1",
            "{case}: listed once under the owner"
        );
    }

    // A first visit that logs in straight away: nothing stored before, one session after.
    let direct = get_as(&app, "/login/joan", None).await.cookie(case);
    let direct_id = sessions.id_in(&direct).expect("a signed cookie");
    assert!(
        store.get(&direct_id).await.expect(STORE).is_some(),
        "{case}: a new session logged in"
    );
    for id in [new_id, direct_id] {
        store.destroy(&id).await.expect(STORE);
    }
}
