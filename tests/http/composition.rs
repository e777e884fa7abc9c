//! Several schemas on one session: namespaces keep their stored names apart (and all move
//! together when one schema's extractor changes the id), conflicting
//! schemas under one layer are an error, and a library's middleware and the handler after it
//! (or two extractors in one handler) each keep their changes, with exact dirty tracking, under
//! every combination of `lazy_load` and `lock_sessions`.

use crate::common;

use std::collections::BTreeSet;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::Router;
use axum::extract::Request;
use axum::middleware::{Next, from_fn};
use axum::response::Response;
use axum::routing::get;
use common::*;
use sessionly::store::{Changed, Record, Store};
use sessionly::{MemoryStore, SessionData, StoreError, TypedSession};

/// A library's schema: its own namespace, and a `user` of its own type.
#[derive(SessionData, Debug)]
#[session(namespace = "auth")]
struct Auth {
    #[session(owner)]
    user: Option<u64>,
    checks: u32,
}

/// Another library's schema, in a namespace of its own.
#[derive(SessionData, Debug)]
#[session(namespace = "csrf")]
struct Csrf {
    token: Option<String>,
}

/// The app's schema, without a namespace: its `user` is not the library's.
#[derive(SessionData, Debug)]
struct App {
    user: Option<String>,
    views: u32,
}

/// A memory store that records, for each write, which fields it was asked to write (`None`
/// for a whole write).
#[derive(Clone, Default)]
struct Recording {
    inner: MemoryStore,
    writes: Arc<Mutex<Vec<Option<BTreeSet<String>>>>>,
}

impl Recording {
    fn take(&self) -> Vec<Option<BTreeSet<String>>> {
        std::mem::take(&mut *self.writes.lock().unwrap())
    }
}

impl Store for Recording {
    async fn get(&self, id: &str) -> Result<Option<Record>, StoreError> {
        self.inner.get(id).await
    }
    async fn set(&self, id: &str, record: &Record, changed: Changed<'_>) -> Result<(), StoreError> {
        self.writes.lock().unwrap().push(changed.fields().cloned());
        self.inner.set(id, record, changed).await
    }
    async fn destroy(&self, id: &str) -> Result<(), StoreError> {
        self.inner.destroy(id).await
    }
    async fn touch(&self, id: &str, record: &Record) -> Result<(), StoreError> {
        self.inner.touch(id, record).await
    }
}

fn names(list: &[&str]) -> Option<BTreeSet<String>> {
    Some(list.iter().map(|n| (*n).to_owned()).collect())
}

/// What a library's layer does: extracts its own schema around the handler, counting the
/// requests that came with `?check` (and changing nothing otherwise).
async fn auth_layer(session: TypedSession<Auth>, request: Request, next: Next) -> Response {
    let mut session = session;
    if request.uri().query() == Some("check") {
        *session.checks_mut() += 1;
    }
    drop(session);
    next.run(request).await
}

/// The same, but holding its extractor while the handler runs.
async fn auth_layer_holding(session: TypedSession<Auth>, request: Request, next: Next) -> Response {
    let mut session = session;
    if request.uri().query() == Some("check") {
        *session.checks_mut() += 1;
    }
    next.run(request).await
}

fn composed(store: impl Store, lazy_load: bool, lock_sessions: bool, holding: bool) -> Router {
    let routes = Router::new()
        .route(
            "/login/{user}",
            get(
                |mut auth: TypedSession<Auth>,
                 mut app: TypedSession<App>,
                 axum::extract::Path(user): axum::extract::Path<u64>| async move {
                    auth.set_user(Some(user));
                    app.set_user(Some(format!("user number {user}")));
                },
            ),
        )
        .route(
            "/view",
            get(|mut app: TypedSession<App>| async move {
                *app.views_mut() += 1;
                app.views().to_string()
            }),
        )
        .route(
            "/read",
            get(
                |mut auth: TypedSession<Auth>,
                 mut app: TypedSession<App>,
                 mut csrf: TypedSession<Csrf>| async move {
                    format!("{:?} {:?} {:?}", auth.data(), app.data(), csrf.data())
                },
            ),
        )
        .route(
            "/cycle",
            get(|mut app: TypedSession<App>| async move { app.cycle_id().await }),
        )
        .route(
            "/token",
            get(|mut csrf: TypedSession<Csrf>| async move {
                csrf.set_token(Some("t0k3n".into()));
            }),
        );
    let routes = if holding {
        routes.layer(from_fn(auth_layer_holding))
    } else {
        routes.layer(from_fn(auth_layer))
    };
    routes.layer(layer_with(store, |b| {
        b.lazy_load(lazy_load).lock_sessions(lock_sessions)
    }))
}

async fn within(app: &Router, path: &str, cookie: Option<&str>) -> Reply {
    tokio::time::timeout(Duration::from_secs(5), get_with(app, path, cookie))
        .await
        .unwrap_or_else(|_| panic!("{path} did not answer: a deadlock"))
}

#[tokio::test]
async fn several_schemas_on_one_session_keep_every_change_exactly() {
    for lazy_load in [false, true] {
        for lock_sessions in [false, true] {
            for holding in [false, true] {
                let what = format!(
                    "lazy_load {lazy_load}, lock_sessions {lock_sessions}, layer holding {holding}"
                );
                several_schemas(&what, lazy_load, lock_sessions, holding).await;
            }
        }
    }
}

async fn several_schemas(what: &str, lazy_load: bool, lock_sessions: bool, holding: bool) {
    let store = Recording::default();
    let app = composed(store.clone(), lazy_load, lock_sessions, holding);

    // A first visit that only reads: uninitialized, so nothing is stored and no cookie sent.
    let reply = within(&app, "/read", None).await;
    assert_eq!(reply.status, 200, "{what}");
    assert!(
        reply.set_cookies.is_empty(),
        "{what}: {:?}",
        reply.set_cookies
    );
    assert_eq!(store.take(), vec![], "{what}: nothing written");

    // A new session changed by the handler's two extractors: one whole write.
    let reply = within(&app, "/login/7", None).await;
    let cookie = reply.cookie().expect("a cookie");
    assert_eq!(store.take(), vec![None], "{what}");
    let id = id_of(&cookie);
    let stored = store.inner.get(&id).await.unwrap().unwrap();
    let keys: Vec<&str> = stored.fields.keys().map(String::as_str).collect();
    assert_eq!(keys, ["auth/user", "user"], "{what}: stored names");
    assert_eq!(
        stored.owner.as_deref(),
        Some("7"),
        "{what}: the library's owner field"
    );

    // The library's layer changes its field, the handler its own: one patch of both.
    let reply = within(&app, "/view?check", Some(&cookie)).await;
    assert_eq!(reply.body, "1", "{what}");
    assert_eq!(
        store.take(),
        vec![names(&["auth/checks", "views"])],
        "{what}"
    );

    // Only the handler changes: a patch of its field alone.
    within(&app, "/view", Some(&cookie)).await;
    assert_eq!(store.take(), vec![names(&["views"])], "{what}");

    // Only the library's layer changes.
    within(&app, "/read?check", Some(&cookie)).await;
    assert_eq!(store.take(), vec![names(&["auth/checks"])], "{what}");

    // A third schema.
    within(&app, "/token", Some(&cookie)).await;
    assert_eq!(store.take(), vec![names(&["csrf/token"])], "{what}");

    // A login that keeps the data (`cycle_id` from one schema's extractor): a check that the
    // session is still stored, one whole write under the new id, and the old id gone; every
    // namespace is still there below.
    let reply = within(&app, "/cycle", Some(&cookie)).await;
    assert_eq!(reply.status, 200, "{what}: {}", reply.body);
    let cookie = reply.cookie().expect("the new id goes out");
    assert_ne!(id_of(&cookie), id, "{what}: a new id");
    assert_eq!(
        store.take(),
        vec![names(&[]), None],
        "{what}: a patch of nothing (is the old id still there?), then one whole write"
    );
    assert_eq!(
        store.inner.get(&id).await.unwrap(),
        None,
        "{what}: the old id gone"
    );

    // Reading all three changes nothing and writes nothing.
    let reply = within(&app, "/read", Some(&cookie)).await;
    assert_eq!(
        reply.body,
        "Auth { user: Some(7), checks: 2 } \
         App { user: Some(\"user number 7\"), views: 2 } \
         Csrf { token: Some(\"t0k3n\") }",
        "{what}"
    );
    assert_eq!(store.take(), vec![], "{what}: a read writes nothing");
    assert!(reply.set_cookies.is_empty(), "{what}");
}

#[tokio::test]
async fn concurrent_requests_of_one_session_take_turns_across_schemas() {
    // With the turn, 20 concurrent requests each changing the library's and the app's field
    // lose nothing, lazily loaded or not.
    for lazy_load in [false, true] {
        let store = Yielding::default();
        let app = composed(store.clone(), lazy_load, true, true);
        let cookie = within(&app, "/login/1", None).await.cookie().unwrap();
        let requests: Vec<_> = (0..20)
            .map(|_| {
                let (app, cookie) = (app.clone(), cookie.clone());
                tokio::spawn(async move { within(&app, "/view?check", Some(&cookie)).await })
            })
            .collect();
        for request in requests {
            assert_eq!(request.await.unwrap().status, 200);
        }
        let reply = within(&app, "/read", Some(&cookie)).await;
        assert!(
            reply.body.contains("checks: 20") && reply.body.contains("views: 20"),
            "lazy_load {lazy_load}: {}",
            reply.body
        );
    }
}

/// Two schemas that store different types under one name: the second one used is refused.
#[derive(SessionData, Debug)]
struct NumberId {
    user_id: Option<u64>,
}

#[derive(SessionData, Debug)]
struct TextId {
    user_id: Option<String>,
}

/// The same type under the same name as `NumberId`: sharing it is allowed.
#[derive(SessionData, Debug)]
struct SameId {
    user_id: Option<u64>,
    theme: Option<String>,
}

/// Another view of the library's owner field (the same name and type): shared, not a second
/// owner.
#[derive(SessionData, Debug)]
#[session(namespace = "auth")]
struct AuthView {
    #[session(owner)]
    user: Option<u64>,
}

/// A second owner field.
#[derive(SessionData, Debug)]
struct OtherOwner {
    #[session(owner)]
    account: Option<String>,
}

#[tokio::test]
async fn schemas_that_claim_one_name_with_different_types_are_refused() {
    let app = Router::new()
        .route(
            "/number",
            get(|mut s: TypedSession<NumberId>| async move {
                s.set_user_id(Some(5));
                format!("{:?}", s.user_id())
            }),
        )
        .route(
            "/text",
            get(|s: TypedSession<TextId>| async move { format!("{:?}", s.user_id()) }),
        )
        .route(
            "/same",
            get(|s: TypedSession<SameId>| async move { format!("{:?}", s.user_id()) }),
        )
        .route(
            "/auth",
            get(|s: TypedSession<Auth>| async move { format!("{:?}", s.user()) }),
        )
        .route(
            "/auth-view",
            get(|s: TypedSession<AuthView>| async move { format!("{:?}", s.user()) }),
        )
        .route(
            "/other-owner",
            get(|s: TypedSession<OtherOwner>| async move { format!("{:?}", s.account()) }),
        )
        .layer(layer_with(MemoryStore::new(), |b| b));

    let cookie = within(&app, "/number", None).await.cookie().unwrap();
    let reply = within(&app, "/text", Some(&cookie)).await;
    assert_eq!(
        (reply.status.as_u16(), reply.body.as_str()),
        (500, "session schemas conflict"),
        "never the other schema's bytes read as a string"
    );
    // Every time, and on a fresh session too; the first schema goes on working.
    assert_eq!(within(&app, "/text", None).await.status, 500);
    assert_eq!(within(&app, "/number", Some(&cookie)).await.body, "Some(5)");
    // The same type under the same name is shared.
    assert_eq!(within(&app, "/same", Some(&cookie)).await.body, "Some(5)");
    // One owner per session.
    assert_eq!(within(&app, "/auth", Some(&cookie)).await.body, "None");
    assert_eq!(
        within(&app, "/auth-view", Some(&cookie)).await.body,
        "None",
        "the same owner field"
    );
    assert_eq!(
        within(&app, "/other-owner", Some(&cookie)).await.status,
        500
    );
}

#[tokio::test]
async fn the_conflict_names_both_schemas_and_the_field() {
    let seen = Arc::new(Mutex::new(String::new()));
    let app = {
        let seen = seen.clone();
        Router::new()
            .route("/number", get(|_: TypedSession<NumberId>| async {}))
            .route(
                "/text",
                get(
                    move |s: Result<TypedSession<TextId>, sessionly::SessionError>| {
                        let seen = seen.clone();
                        async move {
                            if let Err(error) = s {
                                *seen.lock().unwrap() = error.to_string();
                            }
                        }
                    },
                ),
            )
            .layer(layer_with(MemoryStore::new(), |b| b))
    };
    within(&app, "/number", None).await;
    within(&app, "/text", None).await;
    let message = seen.lock().unwrap().clone();
    for part in [
        "TextId",
        "NumberId",
        "\"user_id\"",
        "String",
        "u64",
        "namespace",
    ] {
        assert!(message.contains(part), "{part} in: {message}");
    }
}

/// A library that writes on every request (an audit counter), in its own namespace.
#[derive(SessionData, Debug)]
#[session(namespace = "audit")]
struct Audit {
    requests: u64,
}

/// Its layer: counts the requests of sessions that existed before this request, leaving new
/// ones alone so that an anonymous visit stores nothing.
async fn audit_layer(mut audit: TypedSession<Audit>, request: Request, next: Next) -> Response {
    if !audit.is_new() {
        *audit.requests_mut() += 1;
    }
    drop(audit);
    next.run(request).await
}

#[tokio::test]
async fn a_library_writing_on_every_request_leaves_new_sessions_alone() {
    let store = MemoryStore::new();
    let app = Router::new()
        .route("/", get(|| async { "home" }))
        .route(
            "/is-new",
            get(|app: TypedSession<App>| async move { app.is_new().to_string() }),
        )
        .route(
            "/login",
            get(|mut app: TypedSession<App>| async move {
                app.set_user(Some("ada".into()));
                app.is_new().to_string()
            }),
        )
        .route(
            "/regenerate",
            get(|mut app: TypedSession<App>| async move {
                let before = app.is_new();
                app.regenerate().await?;
                Ok::<_, sessionly::SessionError>(format!("{before}>{}", app.is_new()))
            }),
        )
        .route(
            "/audit",
            get(|audit: TypedSession<Audit>| async move { audit.requests().to_string() }),
        )
        .layer(from_fn(audit_layer))
        .layer(layer_with(store.clone(), |b| b));

    // Anonymous visits: the library writes nothing, so nothing is stored and no cookie sent.
    for _ in 0..3 {
        let reply = get_with(&app, "/", None).await;
        assert!(reply.set_cookies.is_empty(), "{:?}", reply.set_cookies);
    }
    assert_eq!(get_with(&app, "/is-new", None).await.body, "true");
    assert_eq!(sessionly::store::Listing::length(&store).await.unwrap(), 0);

    // The app writes: stored, and still new for the rest of that request.
    let login = get_with(&app, "/login", None).await;
    assert_eq!(
        login.body, "true",
        "new until the request ends, saved or not"
    );
    let cookie = login.cookie().expect("a cookie");
    assert_eq!(sessionly::store::Listing::length(&store).await.unwrap(), 1);

    // From the next request on it is not new, and the library counts.
    assert_eq!(get_with(&app, "/is-new", Some(&cookie)).await.body, "false");
    get_with(&app, "/", Some(&cookie)).await;
    assert_eq!(get_with(&app, "/audit", Some(&cookie)).await.body, "3");

    // `regenerate` starts a new session.
    let reply = get_with(&app, "/regenerate", Some(&cookie)).await;
    assert_eq!(reply.body, "false>true");
}
