//! The stores over TLS (features `redis-tls`, `postgres-tls`), against the TLS Redis, the TLS
//! Redis Cluster and the PostgreSQL with `ssl=on` that `.ci/run` starts, with a certificate authority it makes: a
//! store that trusts that authority connects and keeps its contract; one that trusts another
//! authority, or the system's, is refused.

use crate::common;

use common::*;
use sessionly::testing::conformance;
use sessionly::{ConnectRedisStore, PostgresStore, RedisStore};

fn env(name: &str) -> String {
    std::env::var(name).unwrap_or_else(|_| panic!("{name} must be set (.ci/run sets it)"))
}

fn pem(variable: &str) -> Vec<u8> {
    std::fs::read(env(variable)).expect("the CA file .ci/run made")
}

#[tokio::test]
async fn redis_over_tls_with_a_ca_of_its_own() {
    let url = env("REDIS_TLS_URL");
    let store = RedisStore::open_with_ca(&url, &pem("TLS_CA"))
        .await
        .unwrap()
        .with_prefix(format!("test:tls:{}:", std::process::id()));
    conformance::conformance(&store).await;
    let app = app(layer_with(store, |b| b));
    let cookie = get_with(&app, "/views", None).await.cookie().unwrap();
    assert_eq!(get_with(&app, "/views", Some(&cookie)).await.body, "2");

    let connect = ConnectRedisStore::open_with_ca(&url, &pem("TLS_CA"))
        .await
        .unwrap()
        .with_prefix(format!("test:tls-connect:{}:", std::process::id()));
    conformance::conformance_without_listing(&connect).await;
}

#[tokio::test]
async fn redis_client_cache_over_tls() {
    let url = env("REDIS_TLS_URL");
    let store = RedisStore::open_cached_with_ca(&url, &pem("TLS_CA"), 100)
        .await
        .unwrap()
        .with_prefix(format!("test:tls-cache:{}:", std::process::id()));
    let app = app(layer_with(store.clone(), |b| b));
    let cookie = get_with(&app, "/views", None).await.cookie().unwrap();
    for views in 2..=4 {
        assert_eq!(
            get_with(&app, "/views", Some(&cookie)).await.body,
            views.to_string()
        );
    }
    let stats = store.cache_stats().unwrap();
    assert!(stats.hits >= 2 && stats.entries == 1, "{stats:?}");
    assert!(
        RedisStore::open_cached_with_ca(&url, &pem("TLS_OTHER_CA"), 100)
            .await
            .is_err(),
        "another CA's trust: refused"
    );
    sessionly::store::Listing::clear(&store).await.unwrap();
}

#[tokio::test]
async fn redis_over_tls_refuses_a_server_it_does_not_trust() {
    let url = env("REDIS_TLS_URL");
    let other = RedisStore::open_with_ca(&url, &pem("TLS_OTHER_CA")).await;
    assert!(other.is_err(), "another CA's trust: refused");
    let system = RedisStore::open(&url).await;
    assert!(
        system.is_err(),
        "the system's roots do not know the test CA: refused"
    );
    // And plain text to the TLS port is no session store either.
    let plain = RedisStore::open(&url.replace("rediss://", "redis://")).await;
    assert!(plain.is_err() || probe(plain.unwrap()).await.is_err());
}

#[tokio::test]
async fn redis_cluster_over_tls_with_a_ca_of_its_own() {
    let nodes = env("REDIS_TLS_CLUSTER_NODES");
    let nodes: Vec<&str> = nodes.split(',').collect();
    let store = RedisStore::open_cluster_with_ca(&nodes, &pem("TLS_CA"))
        .await
        .unwrap()
        .with_prefix(format!("test:tls-cluster:{}:", std::process::id()));
    // Sessions spread over the three nodes, each reached over TLS (a cluster has no `all`,
    // `length` or `clear`).
    conformance::conformance_without_listing(&store).await;
    let app = app(layer_with(store, |b| b));
    let mut cookies = Vec::new();
    for _ in 0..12 {
        cookies.push(get_with(&app, "/views", None).await.cookie().unwrap());
    }
    for cookie in &cookies {
        assert_eq!(get_with(&app, "/views", Some(cookie)).await.body, "2");
    }

    let other = RedisStore::open_cluster_with_ca(&nodes, &pem("TLS_OTHER_CA")).await;
    assert!(other.is_err(), "another CA's trust: refused");
    let system = RedisStore::open_cluster(&nodes).await;
    assert!(
        system.is_err(),
        "the system's roots do not know the test CA"
    );
}

async fn probe(store: RedisStore) -> Result<(), sessionly::StoreError> {
    sessionly::store::Store::get(&store, "probe")
        .await
        .map(drop)
}

/// The shared server's URL with `params` (sslmode, sslrootcert) added.
fn postgres_url(params: &str) -> String {
    let base = std::env::var("DATABASE_URL")
        .unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/postgres".to_owned());
    let separator = if base.contains('?') { '&' } else { '?' };
    format!("{base}{separator}{params}")
}

#[tokio::test]
async fn postgres_over_tls_verifies_the_server() {
    let ca = env("TLS_CA");
    for mode in ["require", "verify-ca", "verify-full"] {
        let url = postgres_url(&format!("sslmode={mode}&sslrootcert={ca}"));
        let store = PostgresStore::connect(&url)
            .await
            .unwrap_or_else(|e| panic!("sslmode={mode}: {e}"))
            .with_table(&format!("sessions_tls_{}", std::process::id()))
            .unwrap();
        store.migrate().await.unwrap();
        let app = app(layer_with(store.clone(), |b| b));
        let cookie = get_with(&app, "/views", None).await.cookie().unwrap();
        assert_eq!(
            get_with(&app, "/views", Some(&cookie)).await.body,
            "2",
            "{mode}"
        );
        // The server says the connection is encrypted.
        let pool = sqlx::PgPool::connect(&url).await.unwrap();
        let (ssl,): (bool,) =
            sqlx::query_as("SELECT ssl FROM pg_stat_ssl WHERE pid = pg_backend_pid()")
                .fetch_one(&pool)
                .await
                .unwrap();
        assert!(ssl, "sslmode={mode}: encrypted");
        sqlx::raw_sql(sqlx::AssertSqlSafe(format!(
            "DROP TABLE IF EXISTS sessions_tls_{}",
            std::process::id()
        )))
        .execute(&pool)
        .await
        .unwrap();
    }

    // verify-full against another authority, or without one, is refused.
    let other = postgres_url(&format!(
        "sslmode=verify-full&sslrootcert={}",
        env("TLS_OTHER_CA")
    ));
    assert!(
        PostgresStore::connect(&other).await.is_err(),
        "another CA: refused"
    );
    let system = postgres_url("sslmode=verify-full");
    assert!(
        PostgresStore::connect(&system).await.is_err(),
        "the system's roots: refused"
    );
}
