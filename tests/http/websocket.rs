//! Sessions after the response, over a real websocket: the upgrade handler detaches the session,
//! and the socket's task changes and saves it as messages come, under a request's rules — field
//! patches beside concurrent requests, `reload`, and no resurrection after a logout.

use std::time::Duration;

use axum::Router;
use axum::extract::ws::{Message, WebSocket, WebSocketUpgrade};
use axum::response::Response;
use axum::routing::get;
use futures_util::{SinkExt as _, StreamExt as _};
use sessionly::testing::TestClient;
use sessionly::{
    DetachedSession, MemoryStore, SessionData, SessionError, SessionLayer, TypedSession,
};
use tokio_tungstenite::tungstenite::client::IntoClientRequest as _;
use tokio_tungstenite::tungstenite::{self, http::HeaderValue};

#[derive(SessionData)]
struct Chat {
    user: Option<String>,
    /// Written by the socket.
    received: u32,
    /// Written by plain requests.
    views: u32,
}

async fn upgrade(
    ws: WebSocketUpgrade,
    session: TypedSession<Chat>,
) -> Result<Response, SessionError> {
    let session = session.detach()?;
    Ok(ws.on_upgrade(move |socket| chat(socket, session)))
}

/// Each text message is a command: `count` adds one to `received` and saves, `reload` reads the
/// store's copy; the reply says what came of it.
async fn chat(mut socket: WebSocket, mut session: DetachedSession<Chat>) {
    while let Some(Ok(Message::Text(command))) = socket.recv().await {
        let reply = match command.as_str() {
            "count" => {
                *session.received_mut() += 1;
                match session.save().await {
                    Ok(()) => format!("saved {}", session.received()),
                    Err(error) => format!("refused: {error}"),
                }
            }
            "reload" => match session.reload().await {
                Ok(()) => format!("views {} received {}", session.views(), session.received()),
                Err(error) => format!("refused: {error}"),
            },
            _ => "?".to_owned(),
        };
        if socket.send(Message::Text(reply.into())).await.is_err() {
            break;
        }
    }
}

fn app(layer: SessionLayer) -> Router {
    Router::new()
        .route("/ws", get(upgrade))
        .route(
            "/login",
            get(|mut s: TypedSession<Chat>| async move {
                s.regenerate().await?;
                s.set_user(Some("ada".into()));
                Ok::<_, SessionError>("in")
            }),
        )
        .route(
            "/view",
            get(|mut s: TypedSession<Chat>| async move {
                *s.views_mut() += 1;
                format!("views {} received {}", s.views(), s.received())
            }),
        )
        .route(
            "/logout",
            get(|s: TypedSession<Chat>| async move { s.destroy().await }),
        )
        .layer(layer)
}

type Socket =
    tokio_tungstenite::WebSocketStream<tokio_tungstenite::MaybeTlsStream<tokio::net::TcpStream>>;

async fn ask(socket: &mut Socket, command: &str) -> String {
    socket
        .send(tungstenite::Message::text(command))
        .await
        .expect("the socket takes the message");
    let reply = tokio::time::timeout(Duration::from_secs(5), socket.next())
        .await
        .expect("a reply within 5 s")
        .expect("the socket is open")
        .expect("a message");
    reply.into_text().expect("a text reply").to_string()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_websocket_saves_the_session_after_the_response() {
    for lock_sessions in [true, false] {
        websocket_session(lock_sessions).await;
    }
}

async fn websocket_session(lock_sessions: bool) {
    let case = format!("lock_sessions {lock_sessions}");
    let layer = SessionLayer::builder()
        .secret("the websocket tests' secret, 32+ bytes")
        .store(MemoryStore::new())
        .lock_sessions(lock_sessions)
        .build()
        .unwrap();
    let app = app(layer.clone());
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let address = listener.local_addr().unwrap();
    let server = tokio::spawn(async move { axum::serve(listener, app.clone()).await });
    // The same app over plain requests, for the browser's other tab.
    let browser = TestClient::new(self::app(layer.clone())).with_layer(&layer);

    assert_eq!(browser.get("/login").await.text(), "in", "{case}");
    let cookie = browser.cookie_header().expect("a session cookie");
    let mut request = format!("ws://{address}/ws").into_client_request().unwrap();
    request
        .headers_mut()
        .insert("cookie", HeaderValue::from_str(&cookie).unwrap());
    let (mut socket, response) = tokio_tungstenite::connect_async(request).await.unwrap();
    assert_eq!(response.status(), 101, "{case}");

    // Saved by the socket, long after the upgrade's response.
    assert_eq!(ask(&mut socket, "count").await, "saved 1", "{case}");
    assert_eq!(ask(&mut socket, "count").await, "saved 2", "{case}");
    assert_eq!(
        browser.get("/view").await.text(),
        "views 1 received 2",
        "{case}"
    );

    // A request's change and the socket's change to other fields both stay (patches), and
    // the socket sees the request's after a reload.
    assert_eq!(ask(&mut socket, "count").await, "saved 3", "{case}");
    assert_eq!(
        browser.get("/view").await.text(),
        "views 2 received 3",
        "{case}"
    );
    assert_eq!(
        ask(&mut socket, "reload").await,
        "views 2 received 3",
        "{case}"
    );
    let stored: Chat = browser.session().await.unwrap().unwrap();
    assert_eq!(
        (stored.views, stored.received, stored.user.as_deref()),
        (2, 3, Some("ada"))
    );

    // Logged out in the other tab: the socket's next save writes nothing back.
    let id = browser.session_id().unwrap();
    browser.get("/logout").await;
    assert_eq!(browser.session_id(), None, "{case}: the cookie is cleared");
    let refused = ask(&mut socket, "count").await;
    assert!(refused.starts_with("refused: "), "{case}: {refused}");
    assert!(refused.contains("no longer exists"), "{case}: {refused}");
    assert!(
        ask(&mut socket, "reload").await.starts_with("refused: "),
        "{case}"
    );
    let sessions = sessionly::testing::Sessions::new(&layer);
    assert_eq!(
        sessions.record(&id).await.unwrap(),
        None,
        "{case}: not resurrected"
    );

    socket.close(None).await.ok();
    server.abort();
}

#[tokio::test]
async fn a_detached_save_never_creates_a_session() {
    // A new session that its request does not store (nothing changed): the detached copy's
    // save, after the response, has nothing to patch and creates nothing.
    let store = MemoryStore::new();
    let layer = SessionLayer::builder()
        .secret("the websocket tests' secret, 32+ bytes")
        .store(store.clone())
        .build()
        .unwrap();
    let (sender, receiver) = tokio::sync::oneshot::channel();
    let sender = std::sync::Arc::new(std::sync::Mutex::new(Some(sender)));
    let app = Router::new()
        .route(
            "/",
            get(move |s: TypedSession<Chat>| async move {
                let mut detached = s.detach()?;
                let sender = sender.lock().unwrap().take();
                tokio::spawn(async move {
                    *detached.received_mut() += 1;
                    let saved = detached.save().await;
                    if let Some(sender) = sender {
                        let _ = sender.send(saved);
                    }
                });
                Ok::<_, SessionError>("detached")
            }),
        )
        .layer(layer.clone());
    let browser = TestClient::new(app);
    assert_eq!(browser.get("/").await.text(), "detached");
    let saved = tokio::time::timeout(Duration::from_secs(5), receiver)
        .await
        .expect("the task saved within 5 s")
        .unwrap();
    assert!(matches!(saved, Err(SessionError::NotFound)), "{saved:?}");
    assert_eq!(sessionly::store::Listing::length(&store).await.unwrap(), 0);
}
