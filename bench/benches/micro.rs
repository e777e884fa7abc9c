//! Criterion micro-benchmarks: cookie signing, id generation, record encoding, the whole
//! middleware on one request (this project next to bare axum and tower-sessions), and the
//! per-session lock.
//!
//! `cargo bench -p session-bench` (a few minutes on 2 cores); `-- <filter>` runs a subset.

use std::hint::black_box;
use std::time::Duration;

use axum::Router;
use axum::body::Body;
use axum::routing::get;
use bytes::Bytes;
use criterion::{BenchmarkId, Criterion, Throughput, criterion_group, criterion_main};
use http::{Request, StatusCode, header};
use http_body_util::BodyExt;
use session_bench::apps::{self, SECRET};
use session_bench::schema::{self, Large, Small};
use sessionly::__private::Tracked;
use sessionly::cookie::Signer;
use sessionly::store::{CookieState, Fields, Record};
use sessionly::{Codec, MemoryStore, Postcard, SessionData, SessionLayer, TypedSession};
use tokio::runtime::Runtime;
use tower::ServiceExt;

/// A generated-looking id, fixed so that every run verifies the same value (a random one
/// changes how many `%2B`/`%2F` escapes its MAC needs).
const ID: &str = "q7Zp3Xv0LkR2mW9sT4bN8cJ1hY6dF5gA";

/// An id a custom `genid` might produce: characters that need percent-encoding of every kind.
const ESCAPED_ID: &str = "user 42/ünïcødé%+.x";

fn cookie(c: &mut Criterion) {
    let signer = Signer::new(&[SECRET]).expect("a secret");
    let value = signer.sign(ID);
    let tampered = value.replacen(&ID[..4], "AAAA", 1);
    let escaped = signer.sign(ESCAPED_ID);
    let rotated = Signer::new(&["a newer secret", SECRET]).expect("secrets");
    let mut group = c.benchmark_group("cookie");
    group.bench_function("sign", |b| b.iter(|| signer.sign(black_box(ID))));
    group.bench_function("verify", |b| {
        b.iter(|| signer.verify(black_box(&value)).expect("valid"))
    });
    group.bench_function("verify_escaped_id", |b| {
        b.iter(|| signer.verify(black_box(&escaped)).expect("valid"))
    });
    group.bench_function("verify_second_secret", |b| {
        b.iter(|| rotated.verify(black_box(&value)).expect("valid"))
    });
    group.bench_function("verify_tampered", |b| {
        b.iter(|| assert!(signer.verify(black_box(&tampered)).is_none()))
    });
    group.finish();
}

fn id(c: &mut Criterion) {
    c.bench_function("id/generate", |b| b.iter(sessionly::generate_id));
}

fn encode<T: serde::Serialize>(value: &T) -> Bytes {
    Bytes::from(Postcard::encode(value).expect("plain values encode"))
}

/// The fields a full write of a small session stores, encoded as the derive's flush does.
fn small_fields(views: u64, user: &Option<String>, theme: &String) -> Fields {
    let mut fields = Fields::new();
    fields.insert("views".to_owned(), encode(&views));
    fields.insert("user".to_owned(), encode(user));
    fields.insert("theme".to_owned(), encode(theme));
    fields
}

fn large_fields(views: u64, cart: &Vec<schema::Item>) -> Fields {
    let mut fields = Fields::new();
    fields.insert("views".to_owned(), encode(&views));
    fields.insert("cart".to_owned(), encode(cart));
    fields
}

fn record_of(fields: Fields) -> Record {
    Record::new(
        CookieState::new(
            Some(Duration::from_secs(3600)),
            std::time::SystemTime::now(),
        ),
        fields,
    )
}

/// Decode = the derive's loader (what the extractor runs); encode = each field through the
/// codec (what a flush of every field runs) and the whole record as one postcard value (what a
/// store that keeps records whole would write).
fn record(c: &mut Criterion) {
    let (user, theme) = (schema::small_user(), schema::THEME.to_owned());
    let small = record_of(small_fields(42, &user, &theme));
    let cart = schema::cart();
    let large = record_of(large_fields(42, &cart));

    let mut group = c.benchmark_group("record/small");
    let bytes = postcard::to_allocvec(&small).expect("encodes");
    group.throughput(Throughput::Bytes(bytes.len() as u64));
    group.bench_function("decode_fields", |b| {
        b.iter(|| <<Small as SessionData>::Tracked as Tracked>::load(black_box(&small.fields)))
    });
    group.bench_function("encode_fields", |b| {
        b.iter(|| small_fields(black_box(42), black_box(&user), black_box(&theme)))
    });
    group.bench_function("encode_record", |b| {
        b.iter(|| postcard::to_allocvec(black_box(&small)).expect("encodes"))
    });
    group.bench_function("decode_record", |b| {
        b.iter(|| postcard::from_bytes::<Record>(black_box(&bytes)).expect("decodes"))
    });
    group.finish();

    let mut group = c.benchmark_group("record/large");
    let bytes = postcard::to_allocvec(&large).expect("encodes");
    group.throughput(Throughput::Bytes(bytes.len() as u64));
    group.bench_function("decode_fields", |b| {
        b.iter(|| <<Large as SessionData>::Tracked as Tracked>::load(black_box(&large.fields)))
    });
    group.bench_function("encode_fields", |b| {
        b.iter(|| large_fields(black_box(42), black_box(&cart)))
    });
    group.bench_function("encode_record", |b| {
        b.iter(|| postcard::to_allocvec(black_box(&large)).expect("encodes"))
    });
    group.bench_function("decode_record", |b| {
        b.iter(|| postcard::from_bytes::<Record>(black_box(&bytes)).expect("decodes"))
    });
    group.finish();
}

/// What the shape digest costs: `Postcard` (format byte, digest, then postcard; the digest
/// computed on encode and checked on decode) against plain postcard on the same values.
fn codec(c: &mut Criterion) {
    let (user, theme) = (schema::small_user(), schema::THEME.to_owned());
    let cart = schema::cart();
    fn pair<T>(c: &mut Criterion, name: &str, value: &T)
    where
        T: serde::Serialize + serde::de::DeserializeOwned,
    {
        let mut group = c.benchmark_group(format!("codec/{name}"));
        let plain = postcard::to_allocvec(value).expect("encodes");
        let checked = Postcard::encode(value).expect("encodes");
        group.bench_function("encode_plain", |b| {
            b.iter(|| postcard::to_allocvec(black_box(value)).expect("encodes"))
        });
        group.bench_function("encode_checked", |b| {
            b.iter(|| Postcard::encode(black_box(value)).expect("encodes"))
        });
        group.bench_function("decode_plain", |b| {
            b.iter(|| postcard::from_bytes::<T>(black_box(&plain)).expect("decodes"))
        });
        group.bench_function("decode_checked", |b| {
            b.iter(|| Postcard::decode::<T>(black_box(&checked)).expect("decodes"))
        });
        group.finish();
    }
    pair(c, "u64", &42u64);
    pair(c, "option_string", &user);
    pair(c, "string", &theme);
    pair(c, "cart_16k", &cart);
}

fn request(path: &str, cookie: Option<&str>) -> Request<Body> {
    let mut builder = Request::get(path);
    if let Some(cookie) = cookie {
        builder = builder.header(header::COOKIE, cookie);
    }
    builder.body(Body::empty()).expect("valid request")
}

/// One request through the whole stack, body read to the end, as a server would.
async fn send(app: &Router, path: &str, cookie: Option<&str>) -> Option<String> {
    let response = app
        .clone()
        .oneshot(request(path, cookie))
        .await
        .expect("infallible router");
    assert_eq!(response.status(), StatusCode::OK, "{path}");
    let set_cookie = response
        .headers()
        .get(header::SET_COOKIE)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.split(';').next())
        .map(str::to_owned);
    let body = response.into_body().collect().await.expect("body");
    black_box(body.to_bytes());
    set_cookie
}

/// A system under test: its router and the cookies of a small and a large session.
struct System {
    name: &'static str,
    app: Router,
    /// A second instance for new visitors, so the sessions they create never crowd out the
    /// small and large sessions the other scenarios use.
    fresh: Router,
    small: Option<String>,
    large: Option<String>,
}

impl System {
    fn new(runtime: &Runtime, name: &'static str, app: impl Fn() -> Router) -> Self {
        let app_ = app();
        let (small, large) = runtime.block_on(async {
            let small = send(&app_, "/init", None).await;
            let large = send(&app_, "/init-large", None).await;
            // The sessions exist and hold what /init wrote (bare axum answers the same).
            let read = body(&app_, "/read", small.as_deref()).await;
            assert_eq!(read, "1", "{name}: the small session reads back");
            (small, large)
        });
        Self {
            name,
            app: app_,
            fresh: app(),
            small,
            large,
        }
    }
}

async fn body(app: &Router, path: &str, cookie: Option<&str>) -> String {
    let response = app
        .clone()
        .oneshot(request(path, cookie))
        .await
        .expect("infallible router");
    let bytes = response
        .into_body()
        .collect()
        .await
        .expect("body")
        .to_bytes();
    String::from_utf8_lossy(&bytes).into_owned()
}

fn middleware(c: &mut Criterion) {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("a runtime");
    let systems = [
        System::new(&runtime, "bare axum", apps::bare),
        System::new(&runtime, "ours", || {
            // Bounded, so new visitors meet a store in steady state rather than an ever-growing
            // one; the other scenarios' store stays far below the bound.
            apps::ours(MemoryStore::new().with_capacity(100_000))
        }),
        System::new(&runtime, "tower-sessions", || {
            apps::tower(tower_sessions::MemoryStore::default())
        }),
    ];
    // (scenario, route, which session's cookie: none, small, large)
    let scenarios = [
        ("new_visitor", "/incr", 0),
        ("no_session_access", "/none", 1),
        ("read_only", "/read", 1),
        ("one_field_changed", "/incr", 1),
        ("large_one_field_changed", "/large", 2),
    ];
    for (scenario, path, session) in scenarios {
        let mut group = c.benchmark_group(format!("middleware/{scenario}"));
        for system in &systems {
            let (app, cookie) = match session {
                0 => (&system.fresh, None),
                1 => (&system.app, system.small.as_deref()),
                _ => (&system.app, system.large.as_deref()),
            };
            group.bench_with_input(
                BenchmarkId::from_parameter(system.name),
                &cookie,
                |b, &cookie| b.to_async(&runtime).iter(|| send(app, path, cookie)),
            );
        }
        group.finish();
    }
    // Still the same sessions after the benchmarks: nothing above measured a new session
    // where it meant to measure a stored one.
    for system in &systems {
        let read = runtime.block_on(body(&system.app, "/read", system.small.as_deref()));
        assert_ne!(read, "0", "{}: the small session survived", system.name);
    }
}

/// The per-session lock, which is internal to the layer: one request with the cookie of a
/// stored session to a route that does not touch it, through layers that differ only in
/// `lock_sessions`. The difference between the two is one uncontended acquire and release,
/// a small part of the request: it takes a quiet machine to see it.
fn lock(c: &mut Criterion) {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("a runtime");
    let mut group = c.benchmark_group("lock/uncontended");
    for (name, locked) in [("locked", true), ("unlocked", false)] {
        let layer = SessionLayer::builder()
            .secret(SECRET)
            .resave(false)
            .save_uninitialized(false)
            .lock_sessions(locked)
            .store(MemoryStore::new())
            .build()
            .expect("valid benchmark configuration");
        let app = Router::new()
            .route("/none", get(|| async { "ok" }))
            .route(
                "/init",
                get(|mut s: TypedSession<Small>| async move {
                    s.set_views(1);
                    "ok"
                }),
            )
            .layer(layer);
        let cookie = runtime.block_on(send(&app, "/init", None));
        assert!(cookie.is_some(), "{name}: /init stores a session");
        group.bench_with_input(BenchmarkId::from_parameter(name), &cookie, |b, cookie| {
            b.to_async(&runtime)
                .iter(|| send(&app, "/none", cookie.as_deref()))
        });
    }
    group.finish();
}

fn config() -> Criterion {
    Criterion::default()
        .warm_up_time(Duration::from_millis(500))
        .measurement_time(Duration::from_secs(2))
        .sample_size(30)
}

criterion_group! {
    name = benches;
    config = config();
    targets = cookie, id, record, codec, middleware, lock
}
criterion_main!(benches);
