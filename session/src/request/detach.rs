//! Sessions after the response: [`DetachedSession`], which a websocket or a spawned task keeps
//! and saves by itself.

use std::ops::{Deref, DerefMut};

use super::Handle;
use super::extract::TypedSession;
use crate::backend::Turn;
use crate::error::SessionError;
use crate::schema::{SessionData, Tracked};

/// A session taken out of its request, for work that outlives the response: a websocket
/// handler that reads the session at the upgrade and writes it later (a last-seen time, a
/// game's state, an unread count), or a task the handler spawned. Made by
/// [`TypedSession::detach`].
///
/// It has the same accessors as the [`TypedSession`] it came from, and writes under the same
/// rules as a request, but only when asked:
/// - [`save`](Self::save) writes the fields changed since the detach (or the last save or
///   reload) as a patch, so it does not undo what requests wrote to other fields meanwhile;
/// - it never brings a session back: once the session was destroyed, regenerated or expired
///   (a logout in another tab, "log out everywhere"), `save` and `reload` answer
///   [`SessionError::NotFound`] and write nothing;
/// - each `save` and `reload` takes the session's turn (`lock_sessions`), waiting for a request
///   of the session that is under way; so do not call them from the handler that detached the
///   session, whose request holds the turn until its response is done;
/// - `save` refreshes the session's idle expiry (activity on a websocket keeps it alive), and
///   refuses a session over `max_session_size` with [`SessionError::TooLarge`].
///
/// Changes not saved are dropped with it.
///
/// ```
/// use axum::extract::ws::{Message, WebSocket, WebSocketUpgrade};
/// use axum::response::Response;
/// use sessionly::{DetachedSession, SessionData, SessionError, TypedSession};
///
/// #[derive(SessionData)]
/// struct Chat {
///     unread: u32,
/// }
///
/// async fn upgrade(ws: WebSocketUpgrade, session: TypedSession<Chat>) -> Result<Response, SessionError> {
///     let session = session.detach()?;
///     Ok(ws.on_upgrade(move |socket| chat(socket, session)))
/// }
///
/// async fn chat(mut socket: WebSocket, mut session: DetachedSession<Chat>) {
///     while let Some(Ok(Message::Text(_))) = socket.recv().await {
///         *session.unread_mut() += 1;
///         if session.save().await.is_err() {
///             break; // signed out elsewhere, or the store is down
///         }
///     }
/// }
/// ```
pub struct DetachedSession<T: SessionData> {
    tracked: T::Tracked,
    handle: Handle,
}

impl<T: SessionData> TypedSession<T> {
    /// Takes the session out of the request, for a websocket or a task that outlives the
    /// response (see [`DetachedSession`]). The changes made so far stay with the request,
    /// which saves them at its end as usual; the detached session starts from the session as
    /// it is now, and writes only what changes after this.
    ///
    /// Fails with [`SessionError::Ended`] after `destroy` or `unset`, and like extraction when
    /// the store was unavailable.
    pub fn detach(mut self) -> Result<DetachedSession<T>, SessionError> {
        let handle = self.handle_flushed();
        let (id, record) = handle.with_session(|_, s| (s.id.clone(), s.record.clone()))?;
        let detached = Handle::detached(handle.config_arc().clone(), id, record);
        Ok(DetachedSession {
            tracked: detached.load()?,
            handle: detached,
        })
    }
}

impl<T: SessionData> DetachedSession<T> {
    /// The session id. It is the id the session had when it was detached: a `regenerate`
    /// after that ends this session (its saves answer `NotFound`).
    pub fn id(&self) -> String {
        self.handle.id()
    }

    /// The data as your struct, read-only. Fields are decoded on first access, so this
    /// decodes every field no accessor has read yet (and takes `&mut self` to keep them);
    /// prefer the field accessors where a request needs only some fields.
    pub fn data(&mut self) -> &T {
        self.tracked.data()
    }

    /// Writes the fields changed since the detach, the last save or the last reload, as a
    /// patch, after waiting for the session's turn. [`SessionError::NotFound`] if the session
    /// ended meanwhile (nothing is written).
    pub async fn save(&mut self) -> Result<(), SessionError> {
        let _turn = self.turn().await;
        self.handle.flush(&mut self.tracked);
        self.handle.save().await
    }

    /// Replaces the data with the store's copy, dropping unsaved changes, after waiting for the
    /// session's turn: what requests wrote since. [`SessionError::NotFound`] if the session
    /// ended.
    pub async fn reload(&mut self) -> Result<(), SessionError> {
        let _turn = self.turn().await;
        self.handle.reload().await?;
        self.tracked = self.handle.load()?;
        Ok(())
    }

    /// The session's turn in this process, when the layer gives same-session requests turns;
    /// given back when dropped.
    async fn turn(&self) -> Turn {
        let turn = Turn::default();
        turn.take_local(&self.handle.config().backend, &self.id())
            .await;
        turn
    }
}

impl<T: SessionData> Deref for DetachedSession<T> {
    type Target = T::Tracked;

    fn deref(&self) -> &T::Tracked {
        &self.tracked
    }
}

impl<T: SessionData> DerefMut for DetachedSession<T> {
    fn deref_mut(&mut self) -> &mut T::Tracked {
        &mut self.tracked
    }
}
