//! Choosing a store, what every store guarantees, TLS, turns through the store, and writing a
//! store of your own. Each store's own page has its layout, its settings and what it costs.
//!
//! Every store sits behind a cargo feature of `sessionly` (the memory store is always there),
//! and every server-side store passes the same conformance suite
//! ([`sessionly::testing::conformance`](crate::testing::conformance), [below](#a-store-of-your-own)).
//! All of them write only the fields a request changed, so two requests that change different
//! fields of one session both keep their change, even from two processes.
//! ([`CookieStore`](crate::CookieStore) keeps nothing on the server; its page says what it can
//! and cannot do.)
//!
//! | store | feature | when | setup |
//! |---|---|---|---|
//! | [`MemoryStore`](crate::MemoryStore) | (always) | one process; sessions may vanish on restart | the default; or `.store(MemoryStore::new().with_capacity(100_000))` |
//! | [`SqliteStore`](crate::SqliteStore) | `sqlite` | one machine, sessions must survive a restart | `.store(SqliteStore::open("sessions.db").await?)` |
//! | [`RedisStore`](crate::RedisStore) | `redis` (`redis-tls` for TLS) | several processes or machines; Valkey works too | `.store(RedisStore::open("redis://127.0.0.1").await?)`, or `open_cached(url, 100_000)` for a client-side cache |
//! | [`PostgresStore`](crate::PostgresStore) | `postgres` (`postgres-tls` for TLS) | sessions next to the app's data | `let s = PostgresStore::connect(url).await?; s.migrate().await?; .store(s)` |
//! | [`MySqlStore`](crate::MySqlStore) | `mysql` | sessions next to the app's data, on MySQL 8 or MariaDB 10.6+ | `let s = MySqlStore::connect(url).await?; s.migrate().await?; .store(s)` |
//! | [`CookieStore`](crate::CookieStore) | `cookie-store` | no server-side state at all: small sessions, nothing that must be revocable | `.store(CookieStore::new())` |
//! | [`ConnectRedisStore`](crate::ConnectRedisStore) | `connect-redis` | sharing sessions with a Node app on connect-redis | see [`beside_express`](super::beside_express) |
//! | [`ConnectPgStore`](crate::ConnectPgStore) | `connect-pg` | sharing sessions with a Node app on connect-pg-simple | the same |
//!
//! Expired sessions are never returned by any store. Redis expires its keys by itself, the memory
//! store sweeps as it goes, and the SQL stores (SQLite, PostgreSQL, MySQL, connect-pg-simple's
//! layout) delete their expired rows every 10 minutes on a task each starts when it is made
//! (`with_cleanup(Some(every))` to change that, `with_cleanup(None)` to turn it off, say when
//! another process or a Node app's connect-pg-simple already does it; `delete_expired()` runs
//! it once, now).
//!
//! What each has beyond the core [`Store`](crate::store::Store) calls:
//!
//! | store | owner index ("log out other devices") | turns through the store | listing (`all`, `length`, `clear`) |
//! |---|---|---|---|
//! | `MemoryStore` | yes | no (one process: `lock_sessions` suffices) | yes |
//! | `SqliteStore` | yes | no (one machine) | yes |
//! | `RedisStore` | yes | yes, single node and Cluster | yes, not on a Cluster |
//! | `PostgresStore` | yes | yes | yes |
//! | `MySqlStore` | yes | yes | yes |
//! | `CookieStore` | no | no | no |
//! | `ConnectRedisStore` | no | no | no |
//! | `ConnectPgStore` | no | no | yes |
//!
//! # Corrupt data
//!
//! In any store, a record that cannot be read (its cookie state, its fields object, an id or
//! owner the database cannot give back as text) is logged and treated as missing, so its client
//! gets a new session, never an error on every request; a single field whose stored bytes do not
//! decode is reset to its default, with a warning, and the rest of the session survives.
//!
//! # Over TLS (managed Redis and PostgreSQL)
//!
//! Managed services require TLS. With the feature `redis-tls` (rustls), a `rediss://` URL
//! connects over TLS and checks the server against the system's certificate authorities:
//! `RedisStore::open("rediss://:password@my-redis.example.com:6380")`. For a server with a CA of
//! your own, [`RedisStore::open_with_ca(url, &std::fs::read("ca.pem")?)`](crate::RedisStore::open_with_ca)
//! (also [`ConnectRedisStore::open_with_ca`](crate::ConnectRedisStore::open_with_ca)).
//! [`open_cluster`](crate::RedisStore::open_cluster) accepts `rediss://` nodes too, with the
//! system's roots, and
//! [`RedisStore::open_cluster_with_ca(&nodes, &ca_pem)`](crate::RedisStore::open_cluster_with_ca)
//! with your CA.
//!
//! With the feature `postgres-tls` (rustls), the URL says it all:
//! `postgres://user:pass@db.example.com/app?sslmode=verify-full` checks the server's certificate
//! and name against the system's roots, `&sslrootcert=/path/ca.pem` against your CA, and
//! `sslmode=require` encrypts without checking who answers.
//!
//! `tests/stores/tls.rs` runs the stores against a TLS Redis, a three-node Redis Cluster over
//! TLS (client and cluster bus) and a PostgreSQL with `ssl=on` that `.ci/run` starts with a CA
//! it makes, and checks that a server signed by another authority is refused. TLS to MySQL or
//! MariaDB (sqlx's `ssl-mode` in the URL, with a TLS feature of sqlx) is not tested here.
//!
//! Redis Sentinel (feature `redis-sentinel`):
//! `RedisStore::open_sentinel(&sentinels, "service", primary_login)` asks the sentinels for the
//! service's primary and asks again when its connection times out, fails, or reaches a server
//! that is no longer the primary (`READONLY`), so the store follows a failover by itself.
//! `tests/stores/sentinel.rs` starts a primary, a replica and three sentinels, kills the
//! primary under a load of reads and measures: requests fail (503) only until the sentinels
//! have promoted the replica (the last one 2.5 s after the kill, with the sentinels'
//! `down-after-milliseconds` at 1 s), no read gets a wrong or an empty session, and writes go
//! to the new primary. What the old primary had not replicated when it died is lost, as with
//! any Redis failover.
//!
//! # Turns through the store
//!
//! Within one process, requests that carry the same session take turns
//! ([`lock_sessions`](crate::SessionLayerBuilder::lock_sessions), on by default), so a
//! read-change-write of one field (a counter, a cart) never loses another request's change.
//! Across processes, writes to the same field are last-writer-wins — unless you opt in to turns
//! through the store:
//!
#![cfg_attr(feature = "redis", doc = "```no_run")]
#![cfg_attr(not(feature = "redis"), doc = "```ignore")]
//! use sessionly::{RedisStore, SessionLayer, StoreTurns};
//!
//! # async fn run(url: &str) -> Result<(), Box<dyn std::error::Error>> {
//! let layer = SessionLayer::builder()
//!     .secret("a secret of at least thirty-two bytes!")
//!     .store(RedisStore::open(url).await?)
//!     .store_turns(StoreTurns::new()) // lease 10 s, wait at most 5 s: both options
//!     .build()?;
//! # let _ = layer;
//! # Ok(())
//! # }
//! ```
//!
//! Then a request that loads a session first takes the session's lease in Redis (`SET NX PX` on
//! a key in the session's hash slot, so it works on a Cluster too), waiting with a short,
//! growing, jittered backoff; its save is a script that writes only if the lease is still its
//! own and gives it back in the same round trip (a request that changes nothing gives it back
//! with one more call). So two servers behind a load balancer incrementing one counter keep
//! every increment (`tests/stores/store_turns.rs`: 64 concurrent increments through two layers
//! on two connections keep all 64, single node and Cluster; without the option the same test
//! loses some).
//!
//! - A process that dies holding the turn blocks its session until the lease ends, no longer.
//! - A request that outlives its lease cannot write (its save answers
//!   [`StoreError::LeaseLost`](crate::StoreError::LeaseLost), a `503`), so a late write never
//!   overwrites a newer one.
//! - A request that waits longer than the wait answers `503`
//!   ([`StoreError::TurnTimeout`](crate::StoreError::TurnTimeout), logged).
//! - Only requests that load a session take part: with `lazy_load(true)`, those whose handler
//!   extracts it. A request that turns out to only read still takes the turn, since the layer
//!   cannot know at the load whether the handler will write; routes that never need the session
//!   should not extract it, and then, with `lazy_load(true)`, never wait.
//! - Saves of a [`DetachedSession`](crate::DetachedSession) after the response do not take the
//!   turn.
//!
//! The cost is one more round trip per request that loads a session (two for one that only
//! reads: it gives the turn back with a call of its own), and a script for the save: measured on
//! Redis against the same layer without the option, a read runs at 0.52–0.57x and an increment
//! at 0.77–0.84x (2 and 32 connections, `bench/RESULTS.md`).
//!
//! Stores with the turn: `RedisStore` (single node and Cluster), `PostgresStore` and
//! `MySqlStore`. On PostgreSQL and MySQL the lease is a row in a table beside the sessions'
//! (`<table>_turns`, made by `migrate()`; unlogged on PostgreSQL): taking it is one upsert that
//! only replaces a lease that has ended (and on MySQL a read of whose it is), and the save is
//! one transaction that locks the lease row if it is still the request's, writes, deletes it and
//! commits (five round trips instead of one). We chose a lease row over an advisory lock: a
//! session-level advisory lock would hold a pooled connection for the whole request (a slow
//! handler, or many waiting requests, would drain the pool), and a transaction-level one would
//! hold a transaction open for as long. Nothing is held between statements; the price is the
//! round trips, and leases that outlive a dead holder until `delete_expired()` (or the next
//! lease of the session) clears them; the store's cleanup task calls it every 10 minutes.
//!
//! `build()` refuses the option on the other stores
//! ([`ConfigError::StoreTurnsUnsupported`](crate::ConfigError::StoreTurnsUnsupported)): the
//! memory store lives in one process, where `lock_sessions` already orders requests; SQLite is
//! one machine (its processes share the file lock, not a turn), and `CookieStore` has no server
//! side to take turns on.
//!
//! # A store of your own
//!
//! Implement [`sessionly::store::Store`](crate::store::Store) (plain `async fn`s): `get`, `set`
//! and `destroy` are required; `touch` defaults to a patch of no fields (override it where the
//! backend has something cheaper), and `idle_ttl` lets the layer skip touches of
//! browser-session cookies that would barely move it. What only some stores have is a trait of
//! its own, which the store implements and declares in
//! [`Store::capabilities()`](crate::store::Store::capabilities):
//! [`Leases`](crate::store::Leases) (`store_turns`), [`OwnerIndex`](crate::store::OwnerIndex)
//! (`owner_sessions`, "log out other devices") and [`Listing`](crate::store::Listing) (`all`,
//! `clear`, `length`). A declaration compiles only for traits the store implements
//! (`Capabilities::none().owner_index().listing()`); what is not declared answers
//! [`StoreError::Unsupported`](crate::StoreError::Unsupported).
//!
//! Rules that go beyond express's contract:
//! - Expire a record at
//!   [`record.cookie.store_expiry_ms(idle_ttl, now)`](crate::store::CookieState::store_expiry_ms).
//! - Create records only for [`Changed::All`](crate::store::Changed::All): a patch
//!   ([`Changed::Fields`](crate::store::Changed::Fields), or
//!   [`Changed::FieldsAndOwner`](crate::store::Changed::FieldsAndOwner) when the owner changed
//!   too) or a `touch` of a record that is not there answers
//!   [`StoreError::Gone`](crate::StoreError::Gone) and writes nothing.
//! - Leave the stored owner alone unless the write says it changed, since another request may
//!   have signed the session in or out meanwhile.
//! - Implement [`get_within(id, max_size)`](crate::store::Store::get_within) too if your backend
//!   can measure a record before sending it, so that a session over `max_session_size` never
//!   leaves it (the default loads it with `get`, then drops it).
//!
//! Then run the suite every store here passes, from the `testing` feature (in your
//! `[dev-dependencies]`: `sessionly = { version = "0.1", features = ["testing"] }`):
//!
#![cfg_attr(feature = "testing", doc = "```no_run")]
#![cfg_attr(not(feature = "testing"), doc = "```ignore")]
//! use sessionly::testing::conformance;
//! # use sessionly::MemoryStore as MyStore;
//! # async fn my_store_on_a_test_database() -> MyStore { MyStore::new() }
//!
//! // #[tokio::test]
//! async fn my_store_keeps_the_contract() {
//!     let store = my_store_on_a_test_database().await;
//!     conformance::conformance(&store).await; // or conformance_without_listing
//!     conformance::races(&store).await;
//! }
//! ```
//!
//! [`conformance`](crate::testing::conformance::conformance) checks the store calls themselves:
//! round trips, expiry (a session must be gone within 100 ms of its expiry; the checks wait
//! about a second at a time, 6 s in all), touch, field patches that keep other writers' fields,
//! binary values and odd ids, `get_within`'s size limit, no resurrection, the absolute expiry,
//! and each capability the store declares: the per-owner index, the leases of `store_turns` (one
//! holder, fenced writes, a lease that ends with its time), and `all` / `length` / `clear`
//! (which a store without listing must answer `Unsupported`, for
//! [`conformance_without_listing`](crate::testing::conformance::conformance_without_listing)).
//! [`races`](crate::testing::conformance::races) puts the store behind a layer and races
//! requests over HTTP: no lost update among 64 concurrent requests of one session, different
//! fields written through two layers (two processes) at once, a slow request that cannot bring
//! back a session another process ended, and "log out other devices". Each panics at the first
//! broken rule, naming it. Run them on a store of their own (a test database, a key prefix):
//! they write, delete and finally `clear` their own sessions.
