//! Sessions carried in a request header (`Transport`): a header client is handed its token and
//! no cookie, a cookie client the reverse; the token is the cookie's value, so a session moves
//! between the two; bad tokens are no session; a destroyed session's token is voided; owners,
//! rotation and the cookie store work the same; no token reaches the logs.

use crate::common;

use std::time::Duration;

use axum::Router;
use axum::body::Body;
use axum::routing::get;
use common::*;
use http::{HeaderMap, Request, StatusCode, header};
use http_body_util::BodyExt as _;
use sessionly::{
    Carrier, CookieOptions, CookieStore, MemoryStore, SessionLayer, TokenHeader, Transport,
};
use tower::ServiceExt as _;

/// What a response said, headers and all.
struct Answer {
    status: StatusCode,
    body: String,
    headers: HeaderMap,
}

impl Answer {
    /// The token handed out in `Session-Token`, if any.
    fn token(&self) -> Option<&str> {
        self.headers
            .get("session-token")
            .map(|v| v.to_str().unwrap())
    }

    fn expires(&self) -> Option<&str> {
        self.headers
            .get("session-token-expires")
            .map(|v| v.to_str().unwrap())
    }

    /// The `connect.sid=…` pair of the `Set-Cookie`, if any.
    fn cookie(&self) -> Option<String> {
        self.headers
            .get_all(header::SET_COOKIE)
            .iter()
            .map(|v| v.to_str().unwrap())
            .find(|c| c.starts_with("connect.sid="))
            .map(|c| c.split(';').next().unwrap().to_owned())
    }
}

async fn send(app: &Router, path: &str, headers: &[(&str, &str)]) -> Answer {
    let mut request = Request::get(path);
    for (name, value) in headers {
        request = request.header(*name, *value);
    }
    let response = app
        .clone()
        .oneshot(request.body(Body::empty()).unwrap())
        .await
        .unwrap();
    let (parts, body) = response.into_parts();
    let body = body.collect().await.unwrap().to_bytes();
    Answer {
        status: parts.status,
        body: String::from_utf8_lossy(&body).into_owned(),
        headers: parts.headers,
    }
}

fn bearer(token: &str) -> String {
    format!("Bearer {token}")
}

/// The test routes, and `/carrier`, which says how the request came.
fn app_with(
    store: impl sessionly::store::IntoBackend,
    transport: Transport,
    configure: impl FnOnce(sessionly::SessionLayerBuilder) -> sessionly::SessionLayerBuilder,
) -> Router {
    let layer = layer_with(store, |b| configure(b.transport(transport)));
    routes()
        .route(
            "/carrier",
            get(|carrier: Carrier| async move { format!("{carrier:?}") }),
        )
        .layer(layer)
}

fn both() -> Transport {
    Transport::CookieOrHeader(TokenHeader::bearer())
}

#[tokio::test]
async fn a_header_client_is_handed_a_token_and_no_cookie() {
    let app = app_with(MemoryStore::new(), both(), |b| b);
    // No token yet: the header, empty, asks for one.
    let first = send(&app, "/views", &[("authorization", "Bearer")]).await;
    assert_eq!((first.status, first.body.as_str()), (StatusCode::OK, "1"));
    let token = first
        .token()
        .expect("a token for the new session")
        .to_owned();
    assert!(first.cookie().is_none(), "no cookie for a header client");
    assert!(
        first.expires().is_none(),
        "a browser-session lifetime has no expiry"
    );
    assert!(token.starts_with("s%3A"), "the cookie's value: {token}");
    let vary = first.headers.get(header::VARY).unwrap().to_str().unwrap();
    assert!(vary.contains("authorization"), "{vary}");

    let second = send(&app, "/views", &[("authorization", &bearer(&token))]).await;
    assert_eq!(second.body, "2", "the token names the session");
    assert!(second.token().is_none(), "nothing new to hand out");
    let vary = second
        .headers
        .get(header::VARY)
        .map(|v| v.to_str().unwrap());
    assert_eq!(
        vary,
        Some("authorization"),
        "an answer that depends on the token"
    );
    assert!(second.cookie().is_none());
    let carrier = send(&app, "/carrier", &[("authorization", &bearer(&token))]).await;
    assert_eq!(carrier.body, format!("{:?}", Carrier::Header));

    // A cookie client of the same layer: a cookie, and no token.
    let browser = send(&app, "/views", &[]).await;
    assert_eq!(browser.body, "1");
    assert!(browser.cookie().is_some());
    assert!(browser.token().is_none(), "no token for a cookie client");
    let cookie = browser.cookie().unwrap();
    let carrier = send(&app, "/carrier", &[("cookie", &cookie)]).await;
    assert_eq!(carrier.body, format!("{:?}", Carrier::Cookie));
}

#[tokio::test]
async fn header_only_hands_every_client_a_token() {
    let app = app_with(
        MemoryStore::new(),
        Transport::Header(TokenHeader::bearer()),
        |b| b,
    );
    let first = send(&app, "/views", &[]).await;
    let token = first.token().expect("a token, header asked for or not");
    assert!(first.cookie().is_none());
    // A cookie names nothing here.
    let cookie = format!("connect.sid={token}");
    let by_cookie = send(&app, "/views", &[("cookie", &cookie)]).await;
    assert_eq!(by_cookie.body, "1", "a cookie is not read");
    assert!(by_cookie.cookie().is_none());
    let by_token = send(&app, "/views", &[("authorization", &bearer(token))]).await;
    assert_eq!(by_token.body, "2");
}

#[tokio::test]
async fn a_session_moves_between_cookie_and_token() {
    let app = app_with(MemoryStore::new(), both(), |b| b);
    let browser = send(&app, "/views", &[]).await;
    let cookie = browser.cookie().unwrap();
    let value = cookie.split_once('=').unwrap().1.to_owned();
    let as_token = send(&app, "/views", &[("authorization", &bearer(&value))]).await;
    assert_eq!(as_token.body, "2", "the cookie's value works as a token");
    let app_client = send(&app, "/views", &[("authorization", "Bearer")]).await;
    let token = app_client.token().unwrap();
    let as_cookie = send(
        &app,
        "/views",
        &[("cookie", &format!("connect.sid={token}"))],
    )
    .await;
    assert_eq!(as_cookie.body, "2", "the token works as a cookie");
}

#[tokio::test]
async fn the_token_wins_over_a_cookie_beside_it() {
    let app = app_with(MemoryStore::new(), both(), |b| b);
    let browser = send(&app, "/views", &[]).await;
    let cookie = browser.cookie().unwrap();
    send(&app, "/views", &[("cookie", &cookie)]).await; // the cookie's session: 2 views
    let phone = send(&app, "/views", &[("authorization", "Bearer")]).await;
    let token = phone.token().unwrap().to_owned();
    let both = send(
        &app,
        "/views",
        &[("cookie", &cookie), ("authorization", &bearer(&token))],
    )
    .await;
    assert_eq!(
        both.body, "2",
        "the token's session (1 view before), not the cookie's"
    );
    assert!(both.cookie().is_none(), "answered as a header request");
    let empty_token = send(
        &app,
        "/views",
        &[("cookie", &cookie), ("authorization", "Bearer")],
    )
    .await;
    assert_eq!(
        empty_token.body, "1",
        "a header request without a token: a new session"
    );
    assert!(empty_token.token().is_some());
    // The app's own `Authorization` scheme is not a token: the cookie counts.
    let basic = send(
        &app,
        "/views",
        &[("cookie", &cookie), ("authorization", "Basic dXNlcjpwdw==")],
    )
    .await;
    assert_eq!(basic.body, "3");
    assert!(basic.token().is_none());
}

#[tokio::test]
async fn a_new_id_is_handed_out_and_the_old_token_is_dead() {
    // A login regenerates the session; `cycle_id` gives it a new id and keeps its data.
    for (path, then) in [("/login/ada", "ada:0"), ("/cycle-id", ":1")] {
        let app = app_with(MemoryStore::new(), both(), |b| b);
        let first = send(&app, "/views", &[("authorization", "Bearer")]).await;
        let old = first.token().unwrap().to_owned();
        let moved = send(&app, path, &[("authorization", &bearer(&old))]).await;
        assert_eq!(moved.status, StatusCode::OK, "{path}");
        let new = moved.token().expect("the new id's token").to_owned();
        assert_ne!(new, old, "{path}");
        assert!(moved.cookie().is_none(), "{path}");
        let with_new = send(&app, "/whoami", &[("authorization", &bearer(&new))]).await;
        assert_eq!(with_new.body, then, "{path}");
        let with_old = send(&app, "/views", &[("authorization", &bearer(&old))]).await;
        assert_eq!(with_old.body, "1", "{path}: the old token names nothing");
    }
}

#[tokio::test]
async fn destroy_voids_the_token() {
    let app = app_with(MemoryStore::new(), both(), |b| b);
    let token = send(&app, "/views", &[("authorization", "Bearer")])
        .await
        .token()
        .unwrap()
        .to_owned();
    let bye = send(&app, "/destroy", &[("authorization", &bearer(&token))]).await;
    assert_eq!(bye.body, "bye");
    assert_eq!(bye.token(), Some(""), "an empty token: forget yours");
    assert_eq!(bye.expires(), Some("Thu, 01 Jan 1970 00:00:00 GMT"));
    assert!(
        bye.cookie().is_none(),
        "no cookie cleared for a header client"
    );
    let after = send(&app, "/views", &[("authorization", &bearer(&token))]).await;
    assert_eq!(after.body, "1", "the destroyed session is gone");
}

#[tokio::test]
async fn expiry_and_rolling_as_for_cookies() {
    let app = app_with(MemoryStore::new(), both(), |b| {
        b.cookie(CookieOptions::new().max_age(Duration::from_secs(3600)))
            .rolling(true)
    });
    let first = send(&app, "/views", &[("authorization", "Bearer")]).await;
    let token = first.token().unwrap().to_owned();
    let expires = httpdate::parse_http_date(first.expires().expect("an expiry")).unwrap();
    let left = expires
        .duration_since(std::time::SystemTime::now())
        .unwrap_or_default();
    assert!(
        left > Duration::from_secs(3590) && left <= Duration::from_secs(3600),
        "{left:?}"
    );
    // Rolling: every response hands the token out again, with the moved expiry.
    let again = send(&app, "/read", &[("authorization", &bearer(&token))]).await;
    assert_eq!(again.token(), Some(token.as_str()));
    assert!(again.expires().is_some());
}

#[tokio::test]
async fn cookie_clients_get_the_token_only_when_configured() {
    let header = TokenHeader::bearer().to_cookie_clients(true);
    let app = app_with(MemoryStore::new(), Transport::CookieOrHeader(header), |b| b);
    let browser = send(&app, "/views", &[]).await;
    let cookie = browser.cookie().expect("the cookie");
    let token = browser.token().expect("and the token beside it");
    assert_eq!(cookie, format!("connect.sid={token}"));
}

#[tokio::test]
async fn bad_tokens_are_no_session_and_ask_the_store_nothing() {
    let store = Counting::default();
    let app = app_with(store.clone(), both(), |b| b);
    let token = send(&app, "/views", &[("authorization", "Bearer")])
        .await
        .token()
        .unwrap()
        .to_owned();
    let id = id_of(&token);
    let flipped = {
        let mut bytes = token.clone().into_bytes();
        let last = bytes.last_mut().unwrap();
        *last = if *last == b'A' { b'B' } else { b'A' };
        String::from_utf8(bytes).unwrap()
    };
    let other_app = app_with(MemoryStore::new(), both(), |b| {
        b.secrets(["another app's secret, also 32+ bytes"])
    });
    let foreign = send(&other_app, "/views", &[("authorization", "Bearer")])
        .await
        .token()
        .unwrap()
        .to_owned();
    let (tampered, unsigned, oversized) = (
        bearer(&flipped),
        bearer(&id),
        bearer(&format!("{token}{}", "A".repeat(5000))),
    );
    let (good, foreign) = (bearer(&token), bearer(&foreign));
    let cases: [(&str, Vec<(&str, &str)>); 6] = [
        ("tampered", vec![("authorization", &tampered)]),
        ("unsigned", vec![("authorization", &unsigned)]),
        ("another app's", vec![("authorization", &foreign)]),
        ("oversized", vec![("authorization", &oversized)]),
        (
            "several Authorization headers",
            vec![("authorization", &good), ("authorization", &good)],
        ),
        ("garbage", vec![("authorization", "Bearer %ZZ%%..")]),
    ];
    for (case, headers) in cases {
        let gets = store.counts()[0];
        let answer = send(&app, "/views", &headers).await;
        assert_eq!(answer.status, StatusCode::OK, "{case}");
        assert_eq!(answer.body, "1", "{case}: a new session");
        assert_ne!(id_of(answer.token().unwrap()), id, "{case}");
        assert_eq!(store.counts()[0], gets, "{case}: the store was not asked");
    }
    // The token still works: none of that touched the session.
    let answer = send(&app, "/views", &[("authorization", &good)]).await;
    assert_eq!(answer.body, "2");
}

#[tokio::test]
async fn a_rotated_secret_still_verifies_old_tokens() {
    let store = MemoryStore::new();
    let old_app = app_with(store.clone(), both(), |b| b);
    let token = send(&old_app, "/views", &[("authorization", "Bearer")])
        .await
        .token()
        .unwrap()
        .to_owned();
    let layer = SessionLayer::builder()
        .secrets(["a brand-new secret of 32 bytes or more", SECRET])
        .store(store)
        .transport(both())
        .build()
        .unwrap();
    let rotated = routes().layer(layer);
    let answer = send(&rotated, "/views", &[("authorization", &bearer(&token))]).await;
    assert_eq!(answer.body, "2", "the old secret still verifies");
}

#[tokio::test]
async fn a_phone_and_a_browser_are_two_sessions_of_one_owner() {
    let app = app_with(MemoryStore::new(), both(), |b| b);
    let browser = send(&app, "/signin/ada", &[]).await;
    let cookie = browser.cookie().unwrap();
    let phone = send(&app, "/signin/ada", &[("authorization", "Bearer")]).await;
    let token = phone.token().unwrap().to_owned();
    let listed = send(&app, "/sessions", &[("cookie", &cookie)]).await;
    assert_eq!(listed.body, "2", "the browser sees the phone's session");
    let listed = send(&app, "/sessions", &[("authorization", &bearer(&token))]).await;
    assert_eq!(listed.body, "2", "and the phone the browser's");
    let out = send(&app, "/logout-others", &[("cookie", &cookie)]).await;
    assert_eq!(out.body, "1", "the phone's session destroyed");
    let phone_after = send(&app, "/views", &[("authorization", &bearer(&token))]).await;
    assert_eq!(phone_after.body, "1", "the phone's token names nothing now");
    let browser_after = send(&app, "/sessions", &[("cookie", &cookie)]).await;
    assert_eq!(browser_after.body, "1", "the browser is still signed in");
}

#[tokio::test]
async fn a_cookie_store_session_travels_sealed_in_the_header() {
    let layer = SessionLayer::builder()
        .secret(SECRET)
        .store(CookieStore::new())
        .transport(both())
        .build()
        .unwrap();
    let app = routes().layer(layer);
    let first = send(&app, "/views", &[("authorization", "Bearer")]).await;
    let token = first.token().expect("the sealed session").to_owned();
    let second = send(&app, "/views", &[("authorization", &bearer(&token))]).await;
    assert_eq!(second.body, "2");
    let resealed = second.token().expect("a changed session is sealed again");
    assert_ne!(resealed, token);
    let third = send(&app, "/views", &[("authorization", &bearer(resealed))]).await;
    assert_eq!(third.body, "3");
    // Over the cookie limit: refused as for a cookie, and the client keeps its token.
    let name = "n".repeat(5000);
    let answer = send(
        &app,
        &format!("/name/{name}"),
        &[("authorization", &bearer(resealed))],
    )
    .await;
    assert_eq!(answer.status, StatusCode::INTERNAL_SERVER_ERROR);
    assert!(answer.token().is_none(), "no token past the limit");
    let kept = send(&app, "/read", &[("authorization", &bearer(resealed))]).await;
    assert_eq!(kept.body, "2", "the token in hand still holds its session");
}

#[tokio::test]
async fn no_token_reaches_the_logs() {
    let (logs, _guard) = capture_logs(tracing_subscriber::filter::LevelFilter::TRACE);
    let app = app_with(MemoryStore::new(), both(), |b| b);
    let first = send(&app, "/views", &[("authorization", "Bearer")]).await;
    let token = first.token().unwrap().to_owned();
    send(&app, "/views", &[("authorization", &bearer(&token))]).await;
    send(&app, "/regenerate", &[("authorization", &bearer(&token))]).await;
    send(
        &app,
        "/views",
        &[("authorization", &bearer(&format!("{token}x")))],
    )
    .await;
    let text = logs.text();
    assert!(!text.is_empty(), "the capture saw the layer's events");
    let id = id_of(&token);
    assert!(!text.contains(&id), "a session id in the logs:\n{text}");
    let signature = token.rsplit_once('.').unwrap().1;
    assert!(!text.contains(signature), "a token in the logs:\n{text}");
}

#[tokio::test]
async fn lazy_loads_and_detached_sessions_as_for_cookies() {
    let store = Counting::default();
    let layer = layer_with(store.clone(), |b| {
        b.transport(Transport::Header(TokenHeader::bearer()))
            .lazy_load(true)
    });
    let (saved_tx, saved_rx) = tokio::sync::oneshot::channel();
    let saved_tx = std::sync::Arc::new(std::sync::Mutex::new(Some(saved_tx)));
    let app = routes()
        .route(
            "/later",
            get(move |s: Session| async move {
                // Saved after the response, from a task of its own.
                let mut detached = s.detach()?;
                let done = saved_tx.lock().unwrap().take();
                tokio::spawn(async move {
                    *detached.views_mut() += 10;
                    let saved = detached.save().await;
                    if let Some(done) = done {
                        let _ = done.send(saved);
                    }
                });
                Ok::<_, sessionly::SessionError>("later")
            }),
        )
        .layer(layer);
    let token = send(&app, "/views", &[]).await.token().unwrap().to_owned();
    let auth = bearer(&token);
    let gets = store.counts()[0];
    let none = send(&app, "/none", &[("authorization", &auth)]).await;
    assert_eq!(
        store.counts()[0],
        gets,
        "lazy: a route that never extracts loads nothing"
    );
    assert!(none.token().is_none());
    assert_eq!(
        send(&app, "/later", &[("authorization", &auth)]).await.body,
        "later"
    );
    let saved = tokio::time::timeout(Duration::from_secs(5), saved_rx)
        .await
        .expect("saved within 5 s")
        .unwrap();
    assert!(saved.is_ok(), "{saved:?}");
    let read = send(&app, "/read", &[("authorization", &auth)]).await;
    assert_eq!(
        read.body, "11",
        "the detached save landed in the token's session"
    );
}

#[tokio::test]
async fn tokens_ignore_secure_and_the_cookie_path() {
    // A `Secure` cookie on a path of its own: a browser on plain HTTP, or elsewhere, gets no
    // cookie; an API client gets its token anyway, and is told when it is void.
    let app = app_with(MemoryStore::new(), both(), |b| {
        b.cookie(
            CookieOptions::new()
                .secure(sessionly::Secure::Always)
                .path("/app"),
        )
    });
    let first = send(&app, "/views", &[("authorization", "Bearer")]).await;
    assert_eq!(first.status, StatusCode::OK);
    let token = first
        .token()
        .expect("handed out over plain HTTP, off the cookie's path");
    let second = send(&app, "/views", &[("authorization", &bearer(token))]).await;
    assert_eq!(second.body, "2");
    let bye = send(&app, "/destroy", &[("authorization", &bearer(token))]).await;
    assert_eq!(bye.token(), Some(""), "voided over plain HTTP too");
}

#[tokio::test]
async fn a_token_response_is_never_stored_by_a_cache() {
    let header = TokenHeader::bearer().to_cookie_clients(true);
    let app = app_with(MemoryStore::new(), Transport::CookieOrHeader(header), |b| b);
    for (who, headers) in [
        ("a header client", vec![("authorization", "Bearer")]),
        ("a cookie client handed the token too", vec![]),
    ] {
        let answer = send(&app, "/views", &headers).await;
        assert!(answer.token().is_some(), "{who}");
        let control: Vec<&str> = answer
            .headers
            .get_all(header::CACHE_CONTROL)
            .iter()
            .map(|v| v.to_str().unwrap())
            .collect();
        assert!(control.contains(&"no-store"), "{who}: {control:?}");
        let vary: Vec<&str> = answer
            .headers
            .get_all(header::VARY)
            .iter()
            .map(|v| v.to_str().unwrap())
            .collect();
        assert!(vary.contains(&"authorization"), "{who}: {vary:?}");
    }
}

#[tokio::test]
async fn expiry_moves_with_rolling_and_ends_the_token() {
    let app = app_with(MemoryStore::new(), both(), |b| {
        b.cookie(CookieOptions::new().max_age(Duration::from_millis(1500)))
            .rolling(true)
    });
    let first = send(&app, "/views", &[("authorization", "Bearer")]).await;
    let token = first.token().unwrap().to_owned();
    let before = httpdate::parse_http_date(first.expires().unwrap()).unwrap();
    tokio::time::sleep(Duration::from_millis(1100)).await;
    let again = send(&app, "/read", &[("authorization", &bearer(&token))]).await;
    assert_eq!(again.body, "1", "alive: rolling kept it");
    let after = httpdate::parse_http_date(again.expires().unwrap()).unwrap();
    assert!(after > before, "the expiry moved: {before:?} -> {after:?}");
    tokio::time::sleep(Duration::from_millis(1700)).await;
    let expired = send(&app, "/read", &[("authorization", &bearer(&token))]).await;
    assert_eq!(
        expired.body, "0",
        "past its expiry, the token names nothing"
    );
}

#[tokio::test]
async fn without_rolling_a_touch_reaches_the_store_and_hands_nothing_out() {
    let store = Counting::default();
    let app = app_with(store.clone(), both(), |b| {
        b.cookie(CookieOptions::new().max_age(Duration::from_secs(2)))
    });
    let token = send(&app, "/views", &[("authorization", "Bearer")])
        .await
        .token()
        .unwrap()
        .to_owned();
    tokio::time::sleep(Duration::from_millis(60)).await;
    let touches = store.counts()[2];
    let read = send(&app, "/read", &[("authorization", &bearer(&token))]).await;
    assert_eq!(read.body, "1");
    assert_eq!(
        store.counts()[2],
        touches + 1,
        "the expiry moved in the store"
    );
    assert!(
        read.token().is_none(),
        "nothing to hand out without rolling"
    );
}

#[tokio::test]
async fn unset_destroy_voids_the_token_and_unset_keep_does_not() {
    for (unset, voided) in [
        (sessionly::Unset::Destroy, true),
        (sessionly::Unset::Keep, false),
    ] {
        let app = app_with(MemoryStore::new(), both(), |b| b.unset(unset));
        let token = send(&app, "/views", &[("authorization", "Bearer")])
            .await
            .token()
            .unwrap()
            .to_owned();
        let answer = send(&app, "/unset", &[("authorization", &bearer(&token))]).await;
        assert_eq!(answer.body, "unset");
        assert_eq!(answer.token() == Some(""), voided, "{unset:?}");
        assert!(answer.cookie().is_none(), "{unset:?}");
    }
}

#[tokio::test]
async fn the_handler_can_put_the_token_in_its_body() {
    let layer = layer_with(MemoryStore::new(), |b| b.transport(both()));
    let app = routes()
        .route(
            "/login-json",
            get(|mut s: Session| async move {
                s.cycle_id().await?;
                s.set_name(Some("ada".into()));
                Ok::<_, sessionly::SessionError>(s.session_token().unwrap_or_default())
            }),
        )
        .layer(layer);
    let answer = send(&app, "/login-json", &[("authorization", "Bearer")]).await;
    assert_eq!(
        Some(answer.body.as_str()),
        answer.token(),
        "the body's token is the header's"
    );
    let me = send(&app, "/whoami", &[("authorization", &bearer(&answer.body))]).await;
    assert_eq!(me.body, "ada:0");
    // A cookie store's token is sealed at the end of the request: none before.
    let sealed = SessionLayer::builder()
        .secret(SECRET)
        .store(CookieStore::new())
        .transport(both())
        .build()
        .unwrap();
    let app = Router::new()
        .route(
            "/t",
            get(|s: Session| async move { format!("{:?}", s.session_token()) }),
        )
        .layer(sealed);
    assert_eq!(send(&app, "/t", &[]).await.body, "None");
}

#[tokio::test]
async fn two_layers_in_one_token_header_are_warned_about() {
    let (logs, _guard) = capture_logs(tracing_subscriber::filter::LevelFilter::WARN);
    let inner = layer_with(MemoryStore::new(), |b| b.transport(both()));
    // The outer layer saves its (untouched) session too, so both hand out a token.
    let outer = layer_with(MemoryStore::new(), |b| {
        b.name("other.sid")
            .transport(both())
            .save_uninitialized(true)
    });
    let app = routes().layer(inner).layer(outer);
    for _ in 0..2 {
        send(&app, "/views", &[("authorization", "Bearer")]).await;
    }
    let text = logs.text();
    assert_eq!(
        text.matches("two session layers hand out tokens").count(),
        1,
        "warned once:\n{text}"
    );
}
