//! Sessions after the response: websockets and spawned tasks.
//!
//! A change made through a [`TypedSession`](crate::TypedSession) after the response has been
//! sent is dropped: the request is over. For work that outlives it — a websocket handler that
//! reads the session at the upgrade and writes it later, a task the handler spawned —
//! [`session.detach()`](crate::TypedSession::detach) gives a
//! [`DetachedSession<T>`](crate::DetachedSession) with the same accessors, which writes only
//! when asked, under a request's rules:
//!
//! ```
//! use axum::extract::ws::{Message, WebSocket, WebSocketUpgrade};
//! use axum::response::Response;
//! use sessionly::{DetachedSession, SessionData, SessionError, TypedSession};
//!
//! #[derive(SessionData)]
//! struct Chat {
//!     unread: u32,
//! }
//!
//! async fn upgrade(ws: WebSocketUpgrade, session: TypedSession<Chat>) -> Result<Response, SessionError> {
//!     let session = session.detach()?;
//!     Ok(ws.on_upgrade(move |socket| chat(socket, session)))
//! }
//!
//! async fn chat(mut socket: WebSocket, mut session: DetachedSession<Chat>) {
//!     while let Some(Ok(Message::Text(_))) = socket.recv().await {
//!         *session.unread_mut() += 1;
//!         if session.save().await.is_err() {
//!             break; // logged out elsewhere (NotFound), or the store is down
//!         }
//!     }
//! }
//! ```
//!
//! [`save()`](crate::DetachedSession::save) writes the fields changed since the detach (or the
//! last save or [`reload()`](crate::DetachedSession::reload)) as a patch, so requests that
//! change other fields meanwhile keep their changes; it refreshes the session's idle expiry; it
//! never brings back a session that was destroyed, regenerated or expired (it answers
//! [`SessionError::NotFound`](crate::SessionError::NotFound) and writes nothing).
//!
//! Each `save()` and `reload()` takes the session's turn (`lock_sessions`), so it waits for a
//! request of the session that is under way — call them after the response, not in the handler
//! that detached the session. Saves of a detached session do not take the store's turn of
//! [`store_turns`](crate::SessionLayerBuilder::store_turns). A detached copy of a new session
//! that its request did not store has nothing to patch: store it first (change it in the
//! request, or `save()` it). With [`CookieStore`](crate::CookieStore) a detached session has no
//! cookie to write to: its `save` and `reload` answer
//! [`StoreError::Unsupported`](crate::StoreError::Unsupported).
//!
//! `tests/http/websocket.rs` in the repository runs this over a real websocket.
