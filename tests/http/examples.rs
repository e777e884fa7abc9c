//! The examples over HTTP, with the testing kit: what a user of `sessionly::testing` writes.

#[path = "../../examples/api.rs"]
mod api;
#[path = "../../examples/libraries.rs"]
mod libraries;

use http::StatusCode;
use sessionly::testing::{Sessions, TestClient};
use sessionly::{MemoryStore, SessionLayer, TokenHeader, Transport};

fn layer(store: MemoryStore) -> SessionLayer {
    SessionLayer::builder()
        .secret("the example tests' secret, 32+ bytes")
        .store(store)
        .build()
        .unwrap()
}

/// The `_csrf` value in a page's forms.
fn token_in(page: &str) -> String {
    let start = page.find("name=_csrf value=").expect("a form with a token") + 17;
    page[start..].split('>').next().unwrap().to_owned()
}

#[tokio::test]
async fn libraries_sign_in_with_csrf_protection_beside_the_apps_own_data() {
    let store = MemoryStore::new();
    let sessions = layer(store.clone());
    let browser = TestClient::new(libraries::app(sessions.clone())).with_layer(&sessions);

    let home = browser.get("/").await;
    assert_eq!(home.status(), StatusCode::OK);
    assert!(home.text().contains("1 visits"), "{}", home.text());
    let token = token_in(&home.text());
    let before = browser.session_id().expect("a session");

    // Unsafe requests without the session's token are refused, and change nothing.
    let refused = browser.post_form("/login", &[("user", "ada")]).await;
    assert_eq!(refused.status(), StatusCode::FORBIDDEN);
    let wrong = browser
        .post_form("/login", &[("user", "ada"), ("_csrf", "not-the-token")])
        .await;
    assert_eq!(wrong.status(), StatusCode::FORBIDDEN);
    assert_eq!(browser.session_id().as_deref(), Some(before.as_str()));

    // With it: signed in, under a new id (the old one is gone from the store).
    let signed_in = browser
        .post_form("/login", &[("user", "ada"), ("_csrf", &token)])
        .await;
    assert_eq!(signed_in.status(), StatusCode::SEE_OTHER);
    let after = browser.session_id().expect("a session");
    assert_ne!(after, before, "a new id on sign-in");
    assert_eq!(
        Sessions::new(&sessions).record(&before).await.unwrap(),
        None
    );

    // The notice shows once; the library's and the app's fields live side by side, the
    // app's kept across the sign-in, the CSRF token a new one.
    let page = browser.get("/").await.text();
    assert!(
        page.contains("Signed in as ada.") && page.contains("Hello, ada"),
        "{page}"
    );
    assert!(page.contains("2 visits"), "{page}");
    assert_ne!(token_in(&page), token, "a new CSRF token after the sign-in");
    assert!(!browser.get("/").await.text().contains("Signed in as"));
    let stored = Sessions::new(&sessions)
        .record(&after)
        .await
        .unwrap()
        .unwrap();
    let names: Vec<&str> = stored.fields.keys().map(String::as_str).collect();
    assert_eq!(names, ["auth/notice", "auth/user", "csrf/token", "views"]);
    assert_eq!(stored.owner.as_deref(), Some("ada"));

    assert!(
        browser
            .get("/account")
            .await
            .text()
            .contains("The account of ada")
    );

    // Signing out needs the token too (here as a header), and ends the session.
    let token = token_in(&browser.get("/").await.text());
    let mut logout = http::Request::post("/logout")
        .header("x-csrf-token", &token)
        .body(axum::body::Body::empty())
        .unwrap();
    logout.headers_mut().insert(
        http::header::CONTENT_TYPE,
        http::HeaderValue::from_static("application/x-www-form-urlencoded"),
    );
    assert_eq!(browser.send(logout).await.status(), StatusCode::SEE_OTHER);
    assert_eq!(browser.session_id(), None, "the cookie is cleared");
    let account = browser.get("/account").await;
    assert_eq!(
        account.status(),
        StatusCode::SEE_OTHER,
        "require_login sends it away"
    );
}

#[tokio::test]
async fn a_seeded_user_reaches_the_account_page_directly() {
    let sessions = layer(MemoryStore::new());
    let browser = TestClient::new(libraries::app(sessions.clone())).with_layer(&sessions);
    assert_eq!(
        browser.get("/account").await.status(),
        StatusCode::SEE_OTHER
    );

    browser
        .seed(libraries::auth::signed_in("grace"))
        .await
        .unwrap();
    let page = browser.get("/account").await;
    assert_eq!(page.status(), StatusCode::OK);
    assert!(
        page.text().contains("The account of grace"),
        "{}",
        page.text()
    );
}

/// The API example over real HTTP: a browser (a client with a cookie jar) and the example's own
/// command-line client (a token) sign in as one user, see each other's session, and the
/// command-line client logs the browser out.
#[tokio::test]
async fn api_serves_a_browser_by_cookie_and_a_command_line_client_by_token() {
    let origin = "http://localhost:8080";
    let sessions = api::sessions("the example tests' secret, 32+ bytes").unwrap();
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let base = format!("http://{}", listener.local_addr().unwrap());
    let app = api::app(sessions, http::HeaderValue::from_static(origin));
    tokio::spawn(async move { axum::serve(listener, app).await });

    let browser = reqwest::Client::builder()
        .cookie_store(true)
        .build()
        .unwrap();
    let page = browser.get(&base).send().await.unwrap();
    assert!(page.text().await.unwrap().contains("Log in"));
    let wrong = browser
        .post(format!("{base}/api/login"))
        .json(&serde_json::json!({ "user": "ada", "password": "guess" }))
        .send()
        .await
        .unwrap();
    assert_eq!(wrong.status(), StatusCode::UNAUTHORIZED);
    let login = browser
        .post(format!("{base}/api/login"))
        .json(&serde_json::json!({ "user": "ada", "password": "secret" }))
        .send()
        .await
        .unwrap();
    assert_eq!(login.status(), StatusCode::NO_CONTENT);
    assert!(
        login.headers().get("set-cookie").is_some(),
        "a browser gets a cookie"
    );
    assert!(
        login.headers().get("session-token").is_none(),
        "and no token"
    );
    let me: api::Me = browser
        .get(format!("{base}/api/me"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!((me.user.as_str(), me.via.as_str()), ("ada", "cookie"));
    assert_eq!(me.sessions.len(), 1);

    // The command-line client: signed in with a token, it sees both sessions, marks its own,
    // logs the other (the browser's) out, and its logout voids its token.
    let run = api::client(&base, "ada", "secret").await.unwrap();
    assert_eq!(run.before.via, "token");
    assert_eq!(run.before.sessions.len(), 2, "{run:?}");
    assert_eq!(run.before.sessions.iter().filter(|s| s.this).count(), 1);
    assert_eq!(run.logged_out, 1);
    assert_eq!(run.after.sessions.len(), 1);
    assert!(run.token_voided, "an empty Session-Token on logout");
    let signed_out = browser.get(format!("{base}/api/me")).send().await.unwrap();
    assert_eq!(
        signed_out.status(),
        StatusCode::UNAUTHORIZED,
        "the browser was logged out"
    );

    // Browser JavaScript on the allowed origin may send a token and read the one handed out.
    let preflight = reqwest::Client::new()
        .request(reqwest::Method::OPTIONS, format!("{base}/api/login"))
        .header("origin", origin)
        .header("access-control-request-method", "POST")
        .header(
            "access-control-request-headers",
            "authorization,content-type",
        )
        .send()
        .await
        .unwrap();
    let allowed = preflight.headers()["access-control-allow-headers"]
        .to_str()
        .unwrap()
        .to_owned();
    assert!(allowed.contains("authorization"), "{allowed}");
    let cross = reqwest::Client::new()
        .post(format!("{base}/api/login"))
        .header("origin", origin)
        .header("authorization", "Bearer")
        .json(&serde_json::json!({ "user": "bo", "password": "secret" }))
        .send()
        .await
        .unwrap();
    let exposed = cross.headers()["access-control-expose-headers"]
        .to_str()
        .unwrap()
        .to_owned();
    assert!(exposed.contains("session-token"), "{exposed}");
    assert!(cross.headers().get("session-token").is_some());
}

/// The CSRF check is for cookie requests: an app client carrying a token signs in without one
/// (no other site can make a browser send the token header), a browser still cannot.
#[tokio::test]
async fn libraries_csrf_check_skips_token_requests_only() {
    let sessions = SessionLayer::builder()
        .secret("the example tests' secret, 32+ bytes")
        .transport(Transport::CookieOrHeader(TokenHeader::bearer()))
        .build()
        .unwrap();
    let app = libraries::app(sessions.clone());
    let browser = TestClient::new(app.clone());
    browser.get("/").await;
    let forged = browser.post_form("/login", &[("user", "ada")]).await;
    assert_eq!(
        forged.status(),
        StatusCode::FORBIDDEN,
        "a cookie request needs the token"
    );
    let phone = TestClient::new(app)
        .with_layer(&sessions)
        .carrying_token(TokenHeader::bearer());
    phone.get("/").await;
    assert!(phone.token().is_some());
    let signed_in = phone.post_form("/login", &[("user", "ada")]).await;
    assert_eq!(signed_in.status(), StatusCode::SEE_OTHER);
    assert!(phone.get("/").await.text().contains("Hello, ada"));
}
