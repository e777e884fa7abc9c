//! The examples over HTTP, with the testing kit: what a user of `sessionly::testing` writes.

#[path = "../../examples/libraries.rs"]
mod libraries;

use http::StatusCode;
use sessionly::testing::{Sessions, TestClient};
use sessionly::{MemoryStore, SessionLayer};

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
