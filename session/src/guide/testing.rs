//! Testing your handlers: without a server through the testing kit, and in a real browser.
//!
//! The `testing` feature (for `[dev-dependencies]`:
//! `sessionly = { version = "0.1", features = ["testing"] }`) has what a handler test needs,
//! without a server ([`sessionly::testing`](crate::testing)):
//!
//! - [`TestClient::new(router)`](crate::testing::TestClient::new) sends requests as a browser
//!   would: it keeps the cookies responses set (and drops those they expire) and sends them
//!   back; `get`, `post_form`, and `send` for any request; clones share the cookie jar, a second
//!   client is a second browser.
//! - [`.with_layer(&layer)`](crate::testing::TestClient::with_layer) lets it look behind the
//!   layer: [`seed(data)`](crate::testing::TestClient::seed) stores a new session holding typed
//!   data and takes its cookie (a signed-in user, without the login form),
//!   [`session::<T>()`](crate::testing::TestClient::session) reads what the last responses left
//!   in the store, [`session_id()`](crate::testing::TestClient::session_id) names it.
//! - [`Sessions::new(&layer)`](crate::testing::Sessions::new) does the same for any id (`seed`,
//!   `read`, `record`, `cookie_value`), and
//!   [`Sessions::session(data)`](crate::testing::Sessions::session) makes a `TypedSession<T>` for
//!   a unit test of a function that takes one, with no HTTP at all.
//!
#![cfg_attr(feature = "testing", doc = "```")]
#![cfg_attr(not(feature = "testing"), doc = "```ignore")]
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
//!     format!("hello {}", session.user().as_deref().unwrap_or("stranger"))
//! }
//!
//! fn count(session: &mut TypedSession<Account>) {
//!     *session.views_mut() += 10;
//! }
//!
//! #[tokio::main] // in a test: #[tokio::test] async fn ...
//! async fn main() {
//!     let layer = SessionLayer::builder()
//!         .secret("a test secret of at least thirty-two bytes")
//!         .build()
//!         .unwrap();
//!     let client = TestClient::new(Router::new().route("/", get(home)).layer(layer.clone()))
//!         .with_layer(&layer);
//!     assert_eq!(client.get("/").await.text(), "hello stranger");
//!
//!     client.clear_cookies(); // a new browser, signed in as ada
//!     client.seed(Account { user: Some("ada".into()), views: 0 }).await.unwrap();
//!     assert_eq!(client.get("/").await.text(), "hello ada");
//!     assert_eq!(client.session::<Account>().await.unwrap().unwrap().views, 1);
//!
//!     // A unit test of a function that takes a session.
//!     let mut session = Sessions::new(&layer).session(Account { user: None, views: 1 });
//!     count(&mut session);
//!     assert_eq!(session.data().views, 11);
//! }
//! ```
//!
//! With [`CookieStore`](crate::CookieStore) there is no store to seed or read: `Sessions::seed`
//! and `read`, and the `save` and `reload` of its unit-test sessions (`Sessions::session`),
//! answer [`StoreError::Unsupported`](crate::StoreError::Unsupported).
//!
//! In the repository, `tests/http/examples.rs` tests `examples/libraries.rs` this way.
//! `tests/interop/browser.rs` drives the examples in headless Chromium over WebDriver (the
//! `fantoccini` crate and chromedriver, which `.ci/run` installs and starts): it fills in the
//! forms, reads the browser's cookie jar and keeps the screenshots shown in the README. Copy its
//! `browser()` and `serve_tls()` helpers to test your own pages the same way.
//!
//! A store of your own is tested with the conformance suite of the same feature: see
//! [`stores`](super::stores#a-store-of-your-own).
