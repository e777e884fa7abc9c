//! Turns: requests that carry the same session take turns, so that a read-change-write of one
//! never overwrites another's change.
//!
//! Two kinds of turn, held together by one guard, [`Turn`]:
//! - the in-process lock ([`local`], `lock_sessions`), which orders same-session requests of
//!   this process;
//! - the store-side lease (`store_turns`), which orders them across every process sharing the
//!   store: taken with the store's `lease`, fenced on the save (`set_within_lease`) and given
//!   back with it or by `release`.
//!
//! A request takes both before it loads and gives them back once its response is done; a
//! [`DetachedSession`](crate::DetachedSession) takes the in-process lock around each save and
//! reload.

use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant};

use super::Backend;
use crate::observe;
use crate::store::StoreError;

mod local;

pub(crate) use local::Locks;
use local::SessionLock;

/// How same-session requests take turns through the store, across processes: see
/// [`SessionLayerBuilder::store_turns`](crate::SessionLayerBuilder::store_turns).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct StoreTurns {
    pub(crate) lease: Duration,
    pub(crate) wait: Duration,
}

impl Default for StoreTurns {
    fn default() -> Self {
        Self::new()
    }
}

impl StoreTurns {
    /// A lease of 10 s and a wait of at most 5 s.
    pub fn new() -> Self {
        Self {
            lease: Duration::from_secs(10),
            wait: Duration::from_secs(5),
        }
    }

    /// How long a request holds the turn at most (default 10 s): a process that dies holding
    /// it blocks its session this long, no longer; a request still running after it can no
    /// longer write (its save answers a `503`). Longer than your slowest request.
    pub fn lease(mut self, lease: Duration) -> Self {
        self.lease = lease;
        self
    }

    /// How long a request waits for the turn before it gives up with a `503` (default 5 s).
    pub fn wait(mut self, wait: Duration) -> Self {
        self.wait = wait;
        self
    }
}

/// A layer's turn settings: the in-process locks (`None` with `lock_sessions(false)`) and the
/// store-side turn (`None` unless `store_turns`).
#[derive(Debug, Default)]
pub(crate) struct Turns {
    pub(crate) locks: Option<Arc<Locks>>,
    pub(crate) store: Option<StoreTurns>,
}

/// The turn one request (or one save or reload of a detached session) holds on a session id.
/// Empty until taken; what it still holds goes back when it is ended (see [`Turn::end`]) or,
/// for the in-process lock, dropped.
#[derive(Default)]
pub(crate) struct Turn {
    local: Mutex<Option<SessionLock>>,
    /// The session id and the token of the store-side lease.
    lease: Mutex<Option<(String, String)>>,
}

impl Turn {
    /// Takes the turn on session `id`: the in-process lock when the layer has one, then the
    /// store-side lease when the layer takes turns through the store. Cancel-safe: what a
    /// cancelled call had taken is kept, and a later call does not take it twice.
    pub(crate) async fn take(&self, backend: &Backend, id: &str) -> Result<(), StoreError> {
        self.take_local(backend, id).await;
        self.take_lease(backend, id).await
    }

    /// Takes only the in-process lock on `id`, if the layer has one.
    pub(crate) async fn take_local(&self, backend: &Backend, id: &str) {
        let Some(locks) = &backend.turns.locks else {
            return;
        };
        if self.local().is_some() {
            return; // Taken by a call that was cancelled after it.
        }
        let started = observe::clock();
        let lock = locks.acquire(id).await;
        observe::turn_waited(started);
        *self.local() = Some(lock);
    }

    /// Takes the store-side lease on `id`, waiting with a short, growing backoff, at most the
    /// configured wait.
    async fn take_lease(&self, backend: &Backend, id: &str) -> Result<(), StoreError> {
        let Some(turns) = backend.turns.store else {
            return Ok(());
        };
        if self.lease().is_some() {
            return Ok(()); // Taken by a call that was cancelled after it.
        }
        let started = Instant::now();
        let mut pause = Duration::from_millis(1);
        loop {
            if let Some(token) = backend.lease(id, turns.lease).await? {
                *self.lease() = Some((id.to_owned(), token));
                return Ok(());
            }
            let waited = started.elapsed();
            if waited >= turns.wait {
                return Err(StoreError::TurnTimeout { waited });
            }
            // Up to twice as long each time (at most 50 ms), with jitter so that waiters do not
            // all ask at once.
            let most = u64::try_from(pause.as_micros()).unwrap_or(u64::MAX);
            let jitter = Duration::from_micros(rand::random_range(0..=most));
            tokio::time::sleep((pause + jitter).min(turns.wait - waited)).await;
            pause = (pause * 2).min(Duration::from_millis(50));
        }
    }

    /// The token of the lease this turn holds on session `id`, if any.
    pub(crate) fn lease_on(&self, id: &str) -> Option<String> {
        self.lease()
            .as_ref()
            .filter(|(held, _)| held == id)
            .map(|(_, token)| token.clone())
    }

    /// Forgets the lease: a write gave it back, or found it lost.
    pub(crate) fn lease_returned(&self) {
        self.lease().take();
    }

    /// Gives the store-side lease back, if this turn still holds it.
    pub(crate) async fn give_back_lease(&self, backend: &Backend) {
        let Some((id, token)) = self.lease().take() else {
            return;
        };
        if let Err(error) = backend.release(&id, &token).await {
            tracing::warn!(%error, "could not give the session's turn back; it ends with its lease");
        }
    }

    /// Gives everything back now: the in-process lock at once, and a lease still held (a
    /// request dropped midway) by a task of its own.
    pub(crate) fn end(&self, backend: &Backend) {
        drop(self.local().take());
        if let Some((id, token)) = self.lease().take() {
            backend.release_later(id, token);
        }
    }

    fn local(&self) -> MutexGuard<'_, Option<SessionLock>> {
        // Only assignments happen under this lock.
        self.local.lock().unwrap_or_else(|p| p.into_inner())
    }

    fn lease(&self) -> MutexGuard<'_, Option<(String, String)>> {
        // Only assignments happen under this lock.
        self.lease.lock().unwrap_or_else(|p| p.into_inner())
    }
}
