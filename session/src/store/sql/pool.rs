//! The pool a SQL store takes its connections from, and, for the pools the constructors make
//! (PostgreSQL, MySQL, connect-pg-simple's layout), its replacement when every connection in
//! it hangs.
//!
//! sqlx pings a connection as it goes back to the pool, with no time limit, and sets no TCP
//! keepalive or `TCP_USER_TIMEOUT` on its sockets (nor lets us). When the server's packets stop
//! without a word (a crashed host, a failover that moved the address, a NAT that forgot the
//! flow), a connection caught in that ping waits for TCP: the server's next retransmission once
//! the network heals (up to two minutes later), or about 15 minutes for a host that is gone.
//! Each holds one of the pool's places meanwhile. Calls that ran out of time are the common
//! case, and [`alive_on_release`](super::alive_on_release) closes their connections within a
//! query timeout; a connection that was mid-ping when the fault came is not caught by it. If
//! enough hang that the pool has none to give, and no call has had an answer from the server
//! for as long as a connection may be waited for, the pool is replaced by a new one with the
//! same settings: its connections are new, and the old pool closes as its connections come
//! back.

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, PoisonError, RwLock};

use sqlx::{Database, Pool};

use crate::store::monotonic_ms;

/// A store's pool: fixed (an embedded database, or a pool the app made), or renewable. Clones
/// share it.
pub(in crate::store) struct Pools<DB: Database>(Arc<Shared<DB>>);

struct Shared<DB: Database> {
    current: RwLock<Pool<DB>>,
    renewable: bool,
    /// When a call of this pool last did not finish (ms, [`monotonic_ms`]; 0 for never),
    /// shared with the pool's `after_release` check
    /// ([`alive_on_release`](super::alive_on_release)).
    stalled_ms: Arc<AtomicU64>,
    /// Since when calls have had no answer (no connection to give, or no reply in time), with
    /// none answered since; 0 while calls are answered.
    failing_since_ms: AtomicU64,
    /// When the pool was last replaced; 0 for never.
    renewed_ms: AtomicU64,
    /// Whether a call has had an answer since the last replacement (a replacement is worth a
    /// warning once per outage, not every time).
    answered_since: AtomicBool,
}

impl<DB: Database> Clone for Pools<DB> {
    fn clone(&self) -> Self {
        Self(Arc::clone(&self.0))
    }
}

impl<DB: Database> Pools<DB> {
    /// `pool`, never replaced.
    pub(in crate::store) fn fixed(pool: Pool<DB>) -> Self {
        Self::with(pool, false, Arc::default())
    }

    /// `pool`, whose `after_release` check reads `stalled_ms`, replaced when its connections
    /// all hang.
    #[cfg(any(feature = "postgres", feature = "mysql"))]
    pub(in crate::store) fn renewable(pool: Pool<DB>, stalled_ms: Arc<AtomicU64>) -> Self {
        Self::with(pool, true, stalled_ms)
    }

    fn with(pool: Pool<DB>, renewable: bool, stalled_ms: Arc<AtomicU64>) -> Self {
        Self(Arc::new(Shared {
            current: RwLock::new(pool),
            renewable,
            stalled_ms,
            failing_since_ms: AtomicU64::new(0),
            renewed_ms: AtomicU64::new(0),
            answered_since: true.into(),
        }))
    }

    /// The pool to take a connection from now.
    pub(in crate::store) fn get(&self) -> Pool<DB> {
        self.0
            .current
            .read()
            .unwrap_or_else(PoisonError::into_inner)
            .clone()
    }

    /// Notes a call's `outcome`: an answer from the server, or a pool that had no connection
    /// to give in time.
    pub(in crate::store) fn noted<T>(&self, outcome: &Result<T, sqlx::Error>) {
        match outcome {
            Ok(_) | Err(sqlx::Error::Database(_) | sqlx::Error::RowNotFound) => {
                self.0.failing_since_ms.store(0, Ordering::Relaxed);
                self.0.answered_since.store(true, Ordering::Relaxed);
            }
            Err(sqlx::Error::PoolTimedOut) => self.no_answer(),
            Err(_) => {}
        }
    }

    /// Notes that a call of this pool did not finish: its connection may be mid-statement.
    pub(in crate::store) fn stalled(&self) {
        self.0.stalled_ms.store(monotonic_ms(), Ordering::Relaxed);
    }

    /// Notes a call without an answer (no connection to give, or no reply in time), and
    /// replaces a renewable pool whose calls have had none for two of its waits for a
    /// connection, unless it was replaced within that time.
    pub(in crate::store) fn no_answer(&self) {
        let shared = &*self.0;
        let now = monotonic_ms();
        let _ =
            shared
                .failing_since_ms
                .compare_exchange(0, now, Ordering::Relaxed, Ordering::Relaxed);
        if !shared.renewable {
            return;
        }
        let old = self.get();
        let stuck_after = 2 * old.options().get_acquire_timeout().as_millis() as u64;
        let failing = now.saturating_sub(shared.failing_since_ms.load(Ordering::Relaxed));
        let renewed = shared.renewed_ms.load(Ordering::Relaxed);
        if failing < stuck_after
            || (renewed != 0 && now.saturating_sub(renewed) < stuck_after)
            || shared
                .renewed_ms
                .compare_exchange(renewed, now, Ordering::Relaxed, Ordering::Relaxed)
                .is_err()
        {
            return;
        }
        let new = old
            .options()
            .clone()
            .connect_lazy_with((*old.connect_options()).clone());
        *shared
            .current
            .write()
            .unwrap_or_else(PoisonError::into_inner) = new;
        // The old pool closes its connections as they come back, the hung ones included.
        tokio::spawn(async move { old.close().await });
        if shared.answered_since.swap(false, Ordering::Relaxed) {
            tracing::warn!(
                failing_ms = failing,
                "replaced the database connection pool: no connection came free and the server \
                 answered nothing; its connections may hang on a server that vanished without \
                 closing them"
            );
        } else {
            tracing::debug!(
                failing_ms = failing,
                "replaced the database connection pool again"
            );
        }
    }
}
