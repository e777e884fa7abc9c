//! The stored format is a contract: sessions written by version 1 of the format, kept in
//! `tests/golden/v1/`, must load with exactly the values below in this and every later
//! version — from the record as the codecs and the cookie state wrote it, and from a Redis
//! hash, a PostgreSQL row and a SQLite database as those stores laid it out. A change that
//! breaks them fails here.
//!
//! The files are written once, by the version that introduced the format, with
//! `SESSIONLY_BLESS=1 cargo test --test stores stored_format`; a later version adds a `v2/`
//! beside them rather than rewriting `v1/`. `v2/` holds what format `0xF2` added: a field of
//! 256 bytes or more stored with its type's digest.

use crate::common;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, SystemTime};

use axum::Router;
use axum::routing::get;
use bytes::Bytes;
use common::*;
use serde::{Deserialize, Serialize};
use sessionly::cookie::{SameSite, Signer};
use sessionly::store::{Changed, CookieState, Listing, Record, Store};
use sessionly::{
    CookieOverrides, MemoryStore, PostgresStore, RedisStore, SessionData, SqliteStore, TypedSession,
};

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
enum Role {
    #[default]
    Guest,
    Member,
    Admin {
        since: u32,
    },
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
struct Line {
    sku: u32,
    quantity: u16,
    note: Option<String>,
}

/// Every kind of value the postcard codec stores.
#[derive(Debug, SessionData)]
struct Golden {
    #[session(owner)]
    user: Option<String>,
    count: u64,
    delta: i32,
    small: u8,
    signed_small: i8,
    ratio: f64,
    verified: bool,
    initial: char,
    name: String,
    nick: Option<String>,
    cart: Vec<Line>,
    role: Role,
    scores: BTreeMap<String, u32>,
    pair: (u16, String),
    raw: Vec<u8>,
    #[session(rename = "stored_name")]
    renamed: u32,
}

fn golden() -> Golden {
    Golden {
        user: Some("ada@example.com".into()),
        count: 1_234_567_890_123,
        delta: -42,
        small: 200,
        signed_small: -100,
        ratio: 0.1 + 0.2,
        verified: true,
        initial: 'é',
        name: "Ada Lovelace".into(),
        nick: Some("ada".into()),
        cart: vec![
            Line {
                sku: 7,
                quantity: 2,
                note: None,
            },
            Line {
                sku: 65_536,
                quantity: 1,
                note: Some("gift wrap".into()),
            },
        ],
        role: Role::Admin { since: 2026 },
        scores: [("a".to_owned(), 1), ("b".to_owned(), 300)].into(),
        pair: (9, "nine".into()),
        raw: vec![0, 1, 255],
        renamed: 77,
    }
}

/// The same with the JSON codec.
#[derive(Debug, SessionData)]
#[session(codec = ::sessionly::Json)]
struct GoldenJson {
    count: u64,
    name: String,
    nick: Option<String>,
    cart: Vec<Line>,
    role: Role,
}

fn golden_json() -> GoldenJson {
    GoldenJson {
        count: 42,
        name: "Grace".into(),
        nick: None,
        cart: vec![Line {
            sku: 1,
            quantity: 3,
            note: Some("\"quoted\"".into()),
        }],
        role: Role::Member,
    }
}

const POSTCARD_ID: &str = "golden-postcard-session-id-00001";
const JSON_ID: &str = "golden-json-session-id-000000001";

/// The cookie state both golden sessions have: created at a fixed time, with an expiry a
/// century later (so that they never expire), an absolute limit and per-session attributes.
fn cookie_state() -> CookieState {
    let created = SystemTime::UNIX_EPOCH + Duration::from_millis(1_796_083_200_000);
    let mut state = CookieState::new(Some(Duration::from_secs(100 * 365 * 86_400)), created);
    state.absolute_ms = Some(state.created_ms + 101 * 365 * 86_400_000);
    let mut overrides = CookieOverrides::default();
    overrides.same_site = Some(SameSite::Strict);
    overrides.domain = Some("example.com".into());
    state.overrides = overrides;
    state
}

fn dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/golden/v1")
}

fn blessing() -> bool {
    std::env::var_os("SESSIONLY_BLESS").is_some()
}

/// An app whose routes answer the session's data as `{:?}`. The two schemas store different
/// types under the same names, so each has a layer of its own (under one layer that would be
/// a schema conflict).
fn reader(store: impl Store + Clone) -> Router {
    let postcard = Router::new()
        .route(
            "/postcard",
            get(|mut s: TypedSession<Golden>| async move { format!("{:?}", s.data()) }),
        )
        .layer(layer_with(store.clone(), |b| b));
    let json = Router::new()
        .route(
            "/json",
            get(|mut s: TypedSession<GoldenJson>| async move { format!("{:?}", s.data()) }),
        )
        .layer(layer_with(store, |b| b));
    postcard.merge(json)
}

/// The cookie of session `id`, signed with the tests' secret.
fn cookie_for(id: &str) -> String {
    let signer = Signer::new(&[SECRET]).expect("a secret");
    format!("connect.sid={}", signer.sign(id))
}

/// Reads both golden sessions through `store` over HTTP and checks every value.
async fn reads_exactly(store: impl Store + Clone, what: &str) {
    // Before the requests below touch them.
    for id in [POSTCARD_ID, JSON_ID] {
        let record = store.get(id).await.unwrap().expect("the golden session");
        assert_eq!(
            record.cookie,
            cookie_state(),
            "{what}: cookie state of {id}"
        );
    }
    let owned = store.get(POSTCARD_ID).await.unwrap().unwrap();
    assert_eq!(owned.owner.as_deref(), Some("ada@example.com"), "{what}");
    assert!(
        owned.fields.contains_key("stored_name") && !owned.fields.contains_key("renamed"),
        "{what}: fields are stored by their stored names"
    );
    let app = reader(store.clone());
    let reply = get_with(&app, "/postcard", Some(&cookie_for(POSTCARD_ID))).await;
    assert_eq!(reply.status, 200, "{what}");
    assert_eq!(
        reply.body,
        format!("{:?}", golden()),
        "{what}: postcard values"
    );
    let reply = get_with(&app, "/json", Some(&cookie_for(JSON_ID))).await;
    assert_eq!(
        reply.body,
        format!("{:?}", golden_json()),
        "{what}: json values"
    );
}

// --- The record: cookie state and field bytes, as hex in a text file ---

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

fn unhex(text: &str) -> Vec<u8> {
    (0..text.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(&text[i..i + 2], 16).expect("hex"))
        .collect()
}

/// `id`, `cookie`, `owner` and `field` lines: one session per `id` line.
fn write_records(path: &Path, header: &str, records: &[(&str, &Record)]) {
    let mut text = format!("# {header}\n");
    for (id, record) in records {
        text.push_str(&format!("id {id}\n"));
        text.push_str(&format!(
            "cookie {}\n",
            hex(&record.cookie.encode().unwrap())
        ));
        if let Some(owner) = &record.owner {
            text.push_str(&format!("owner {owner}\n"));
        }
        for (name, value) in &record.fields {
            text.push_str(&format!("field {name} {}\n", hex(value)));
        }
    }
    std::fs::write(path, text).unwrap();
}

fn read_records(path: &Path) -> Vec<(String, Record)> {
    let text = std::fs::read_to_string(path)
        .unwrap_or_else(|e| panic!("{}: {e} (golden files are in git)", path.display()));
    let mut records: Vec<(String, Record)> = Vec::new();
    for line in text.lines().filter(|l| !l.starts_with('#')) {
        let (kind, rest) = line.split_once(' ').expect("a line of the golden file");
        if kind == "id" {
            records.push((rest.to_owned(), Record::default()));
            continue;
        }
        let (_, record) = records.last_mut().expect("an id line first");
        match kind {
            "cookie" => record.cookie = CookieState::decode(&unhex(rest)).expect("v1 cookie"),
            "owner" => record.owner = Some(rest.to_owned()),
            "field" => {
                let (name, value) = rest.split_once(' ').expect("field NAME HEX");
                record
                    .fields
                    .insert(name.to_owned(), Bytes::from(unhex(value)));
            }
            other => panic!("unknown golden line {other:?}"),
        }
    }
    records
}

/// The golden sessions as this version writes them, through the public API: each schema's
/// data written over HTTP, then the record taken from the store with the fixed cookie state.
async fn write_golden_sessions() -> Vec<(&'static str, Record)> {
    let store = MemoryStore::new();
    let writer = Router::new()
        .route(
            "/postcard",
            get(|mut s: TypedSession<Golden>| async move {
                let g = golden();
                s.set_user(g.user);
                s.set_count(g.count);
                s.set_delta(g.delta);
                s.set_small(g.small);
                s.set_signed_small(g.signed_small);
                s.set_ratio(g.ratio);
                s.set_verified(g.verified);
                s.set_initial(g.initial);
                s.set_name(g.name);
                s.set_nick(g.nick);
                s.set_cart(g.cart);
                s.set_role(g.role);
                s.set_scores(g.scores);
                s.set_pair(g.pair);
                s.set_raw(g.raw);
                s.set_renamed(g.renamed);
                s.id()
            }),
        )
        .route(
            "/json",
            get(|mut s: TypedSession<GoldenJson>| async move {
                let g = golden_json();
                s.set_count(g.count);
                s.set_name(g.name);
                s.set_nick(g.nick);
                s.set_cart(g.cart);
                s.set_role(g.role);
                s.id()
            }),
        )
        .layer(layer_with(store.clone(), |b| b));
    let mut sessions = Vec::new();
    for (route, id) in [("/postcard", POSTCARD_ID), ("/json", JSON_ID)] {
        let written = get_with(&writer, route, None).await.body;
        let mut record = store.get(&written).await.unwrap().expect("written");
        record.cookie = cookie_state();
        sessions.push((id, record));
    }
    sessions
}

#[tokio::test]
async fn records_of_format_v1_load_with_their_values() {
    let path = dir().join("records.txt");
    if blessing() {
        std::fs::create_dir_all(dir()).unwrap();
        let sessions = write_golden_sessions().await;
        let refs: Vec<(&str, &Record)> = sessions.iter().map(|(id, r)| (*id, r)).collect();
        write_records(
            &path,
            "Sessions as format v1 stores them (tests/stored_format.rs). Never edit; add v2/.",
            &refs,
        );
    }
    let store = MemoryStore::new();
    for (id, record) in read_records(&path) {
        store.set(&id, &record, Changed::All).await.unwrap();
    }
    reads_exactly(store, "records").await;
}

// --- Format v2: a field of 256 bytes or more carries its type's digest (0xF2) ---

/// Two large fields (a cart of structs with options, a history of enum values) and a small
/// one, which keeps the first layout.
#[derive(Debug, SessionData)]
struct GoldenLarge {
    count: u64,
    cart: Vec<Line>,
    history: Vec<Role>,
}

fn golden_large() -> GoldenLarge {
    GoldenLarge {
        count: 7,
        cart: (0..40u32)
            .map(|i| Line {
                sku: 1000 + i * 977,
                quantity: (i % 5) as u16 + 1,
                note: (i % 3 == 0).then(|| format!("note {i}")),
            })
            .collect(),
        history: (0..200u32)
            .map(|i| match i % 3 {
                0 => Role::Guest,
                1 => Role::Member,
                _ => Role::Admin { since: 2000 + i },
            })
            .collect(),
    }
}

const LARGE_ID: &str = "golden-large-fields-session-0001";

fn dir_v2() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/golden/v2")
}

fn large_reader(store: MemoryStore) -> Router {
    Router::new()
        .route(
            "/large",
            get(|mut s: TypedSession<GoldenLarge>| async move { format!("{:?}", s.data()) }),
        )
        .layer(layer_with(store, |b| b))
}

#[tokio::test]
async fn records_of_format_v2_load_with_their_values() {
    let path = dir_v2().join("records.txt");
    if blessing() {
        std::fs::create_dir_all(dir_v2()).unwrap();
        let store = MemoryStore::new();
        let writer = Router::new()
            .route(
                "/large",
                get(|mut s: TypedSession<GoldenLarge>| async move {
                    let g = golden_large();
                    s.set_count(g.count);
                    s.set_cart(g.cart);
                    s.set_history(g.history);
                    s.id()
                }),
            )
            .layer(layer_with(store.clone(), |b| b));
        let written = get_with(&writer, "/large", None).await.body;
        let mut record = store.get(&written).await.unwrap().expect("written");
        record.cookie = cookie_state();
        write_records(
            &path,
            "Sessions as format v2 stores them (tests/stored_format.rs). Never edit; add v3/.",
            &[(LARGE_ID, &record)],
        );
    }
    let records = read_records(&path);
    let (id, record) = records.first().expect("the golden session");
    assert_eq!(id, LARGE_ID);
    // What v2 pins: the large fields in the layout with the type digest, the small one not.
    for (field, format) in [("cart", 0xf2), ("history", 0xf2), ("count", 0xf1)] {
        assert_eq!(record.fields[field][0], format, "format of {field}");
    }
    let store = MemoryStore::new();
    store.set(id, record, Changed::All).await.unwrap();
    let reply = get_with(&large_reader(store), "/large", Some(&cookie_for(LARGE_ID))).await;
    assert_eq!(reply.status, 200);
    assert_eq!(reply.body, format!("{:?}", golden_large()));
}

// --- Redis: the hashes as RedisStore laid them out ---

async fn raw_redis() -> ::redis::aio::MultiplexedConnection {
    ::redis::Client::open(redis_url())
        .unwrap()
        .get_multiplexed_async_connection()
        .await
        .unwrap_or_else(|e| {
            panic!(
                "Redis must be running at {} (see .ci/run): {e}",
                redis_url()
            )
        })
}

#[tokio::test]
async fn redis_hashes_of_format_v1_load_with_their_values() {
    let path = dir().join("redis.txt");
    let prefix = format!("test:golden:{}:", std::process::id());
    let store = RedisStore::open(&redis_url())
        .await
        .unwrap()
        .with_prefix(prefix.clone());
    let mut raw = raw_redis().await;
    if blessing() {
        let mut text = String::from(
            "# Redis hashes as format v1 stores them (tests/stored_format.rs). Never edit.\n",
        );
        for (id, record) in write_golden_sessions().await {
            store.set(id, &record, Changed::All).await.unwrap();
            let entries: Vec<(Vec<u8>, Vec<u8>)> = ::redis::cmd("HGETALL")
                .arg(format!("{prefix}{id}"))
                .query_async(&mut raw)
                .await
                .unwrap();
            text.push_str(&format!("key {id}\n"));
            for (name, value) in entries {
                text.push_str(&format!("{} {}\n", hex(&name), hex(&value)));
            }
        }
        std::fs::write(&path, text).unwrap();
        store.clear().await.unwrap();
    }
    let text = std::fs::read_to_string(&path).unwrap();
    let mut key = String::new();
    for line in text.lines().filter(|l| !l.starts_with('#')) {
        let (first, second) = line.split_once(' ').unwrap();
        if first == "key" {
            key = format!("{prefix}{second}");
            continue;
        }
        ::redis::cmd("HSET")
            .arg(&key)
            .arg(unhex(first))
            .arg(unhex(second))
            .query_async::<()>(&mut raw)
            .await
            .unwrap();
    }
    reads_exactly(store.clone(), "redis").await;
    store.clear().await.unwrap();
}

// --- SQLite: the database file as SqliteStore wrote it ---

#[tokio::test]
async fn a_sqlite_database_of_format_v1_loads_with_its_values() {
    let golden_db = dir().join("sessions.sqlite");
    if blessing() {
        std::fs::create_dir_all(dir()).unwrap();
        let _ = std::fs::remove_file(&golden_db);
        let store = SqliteStore::open(&golden_db).await.unwrap();
        for (id, record) in write_golden_sessions().await {
            store.set(id, &record, Changed::All).await.unwrap();
        }
        drop(store);
        // One file, no WAL beside it: SQLite moves the WAL into the file when the last
        // connection closes, which a lone connection does reliably.
        let mut wal = golden_db.clone().into_os_string();
        wal.push("-wal");
        for _ in 0..50 {
            tokio::time::sleep(Duration::from_millis(50)).await;
            if !Path::new(&wal).exists() {
                break;
            }
            drop(SqliteStore::open(&golden_db).await.unwrap());
        }
        assert!(!Path::new(&wal).exists(), "the WAL was never checkpointed");
    }
    let copy = std::env::temp_dir().join(format!("session-golden-{}.db", std::process::id()));
    std::fs::copy(&golden_db, &copy).unwrap();
    let store = SqliteStore::open(&copy).await.unwrap();
    reads_exactly(store.clone(), "sqlite").await;
    drop(store);
    for suffix in ["", "-wal", "-shm"] {
        let mut path = copy.clone().into_os_string();
        path.push(suffix);
        let _ = std::fs::remove_file(path);
    }
}

// --- PostgreSQL: the rows as PostgresStore wrote them ---

/// Runs SQL with `psql` (from `$PG_BIN`, as `.ci/run` sets it) and answers what it printed,
/// unaligned, one row a line, columns separated by `|`.
fn psql(sql: &str) -> String {
    let program = std::env::var("PG_BIN").map_or_else(
        |_| PathBuf::from("psql"),
        |dir| Path::new(&dir).join("psql"),
    );
    let output = Command::new(program)
        .arg(database_url())
        .args(["-X", "-q", "-A", "-t", "-v", "ON_ERROR_STOP=1", "-c", sql])
        .stdin(Stdio::null())
        .output()
        .unwrap_or_else(|e| panic!("cannot run psql (see .ci/run): {e}"));
    assert!(
        output.status.success(),
        "{sql}: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    String::from_utf8_lossy(&output.stdout).trim().to_owned()
}

#[tokio::test]
async fn postgres_rows_of_format_v1_load_with_their_values() {
    let path = dir().join("postgres.txt");
    let table = format!("sessions_golden_{}", std::process::id());
    let store = PostgresStore::connect(&database_url())
        .await
        .unwrap_or_else(|e| panic!("PostgreSQL must be running (see .ci/run): {e}"))
        .with_table(&table)
        .unwrap();
    store.migrate().await.unwrap();
    store.clear().await.unwrap();
    let columns = "id, encode(cookie, 'hex'), fields::text, expires_ms, coalesce(owner, '')";
    if blessing() {
        std::fs::create_dir_all(dir()).unwrap();
        for (id, record) in write_golden_sessions().await {
            store.set(id, &record, Changed::All).await.unwrap();
        }
        let rows = psql(&format!("SELECT {columns} FROM {table} ORDER BY id"));
        std::fs::write(
            &path,
            format!(
                "# PostgreSQL rows as format v1 stores them (tests/stored_format.rs), columns \
                 id|cookie hex|fields|expires_ms|owner. Never edit.\n{rows}\n"
            ),
        )
        .unwrap();
        store.clear().await.unwrap();
    }
    let text = std::fs::read_to_string(&path).unwrap();
    for line in text
        .lines()
        .filter(|l| !l.starts_with('#') && !l.is_empty())
    {
        let [id, cookie, fields, expires, owner]: [&str; 5] = line
            .splitn(5, '|')
            .collect::<Vec<_>>()
            .try_into()
            .expect("five columns");
        let owner = if owner.is_empty() {
            "NULL".to_owned()
        } else {
            format!("'{owner}'")
        };
        psql(&format!(
            "INSERT INTO {table} (id, cookie, fields, expires_ms, owner) \
             VALUES ('{id}', decode('{cookie}', 'hex'), '{fields}'::jsonb, {expires}, {owner})"
        ));
    }
    reads_exactly(store.clone(), "postgres").await;
    psql(&format!("DROP TABLE {table}"));
}
