//! The read a `RedisStore` makes for a request (one `HGETALL` of a session hash, its fields as
//! owned byte pairs), `N` times, with the `redis` crate (a `ConnectionManager`, as the store
//! has) or with `fred` (a client, as tower-sessions' Redis store has). Under
//! `valgrind --tool=callgrind`, the difference of two runs (2N and N) divided by N is the
//! client-side instructions per read (bench/README.md, "Redis clients"). `redis-get` reads
//! the same session packed in one string with one `GET` (what a one-value layout would read).
//!
//! ```sh
//! cargo build --release --manifest-path bench/clients/Cargo.toml
//! bench/clients/target/release/redis-clients-bench redis 2000 redis://127.0.0.1:6379
//! bench/clients/target/release/redis-clients-bench fred 2000 redis://127.0.0.1:6379
//! ```

use fred::interfaces::{ClientLike as _, HashesInterface as _};

/// The key, and a session's fields as the store writes them for the load benchmark's `read`
/// route (the names, and values of the same lengths).
const KEY: &str = "sess:redis-clients-bench";
const FIELDS: [(&str, usize); 5] = [
    ("v", 1),
    ("c", 21),
    ("f:theme", 10),
    ("f:user", 26),
    ("f:views", 7),
];

#[tokio::main(flavor = "current_thread")]
async fn main() {
    let mut args = std::env::args().skip(1);
    let client = args.next().unwrap_or_else(|| "redis".to_owned());
    let count: usize = args.next().and_then(|n| n.parse().ok()).unwrap_or(2000);
    let url = args
        .next()
        .unwrap_or_else(|| "redis://127.0.0.1:6379".to_owned());

    let setup = redis::Client::open(url.as_str()).expect("a Redis URL");
    let mut connection = redis::aio::ConnectionManager::new(setup)
        .await
        .expect("Redis");
    let mut hset = redis::cmd("HSET");
    hset.arg(KEY);
    for (name, len) in FIELDS {
        hset.arg(name).arg(vec![b'x'; len]);
    }
    hset.query_async::<()>(&mut connection).await.expect("HSET");

    let mut bytes = 0;
    match client.as_str() {
        "redis" => {
            // One read not counted: what a first command makes once.
            for _ in 0..count + 1 {
                let fields: Vec<(Vec<u8>, Vec<u8>)> = redis::cmd("HGETALL")
                    .arg(KEY)
                    .query_async(&mut connection.clone())
                    .await
                    .expect("HGETALL");
                bytes += fields.iter().map(|(n, v)| n.len() + v.len()).sum::<usize>();
            }
        }
        "redis-get" => {
            // The same session packed in one string (what a one-value layout would read).
            let packed = vec![b'x'; FIELDS.iter().map(|(n, l)| n.len() + l + 2).sum()];
            redis::cmd("SET")
                .arg("sess:redis-clients-bench-packed")
                .arg(packed)
                .query_async::<()>(&mut connection)
                .await
                .expect("SET");
            for _ in 0..count + 1 {
                let value: Option<Vec<u8>> = redis::cmd("GET")
                    .arg("sess:redis-clients-bench-packed")
                    .query_async(&mut connection.clone())
                    .await
                    .expect("GET");
                bytes += value.map_or(0, |v| v.len());
            }
        }
        "fred" => {
            let config = fred::types::config::Config::from_url(&url).expect("a Redis URL");
            let client = fred::clients::Client::new(config, None, None, None);
            client.init().await.expect("Redis");
            for _ in 0..count + 1 {
                let value: fred::types::Value = client.hgetall(KEY).await.expect("HGETALL");
                let map = value.into_map().expect("a hash");
                let fields: Vec<(bytes::Bytes, bytes::Bytes)> = map
                    .inner()
                    .into_iter()
                    .map(|(name, value)| {
                        let name = name.into_bytes();
                        (name, value.into_bytes().unwrap_or_default())
                    })
                    .collect();
                bytes += fields.iter().map(|(n, v)| n.len() + v.len()).sum::<usize>();
            }
        }
        other => panic!("unknown client {other}: redis or fred"),
    }
    println!("{client}: {count} reads, {bytes} bytes of fields");
}
