//! The load benchmark's server and report.
//!
//! ```text
//! load serve --system bare|ours|ours-default|ours-turns|ours-rolling|ours-rolling-cached|tower
//!            --store memory|redis|cookie
//!            [--port 8090]
//!            [--redis redis://127.0.0.1:6390] [--count-bytes] [--max-seconds 1800]
//! load report RESULTS.tsv
//! ```
//!
//! `serve` answers the routes of `session_bench::apps` on 127.0.0.1 for one system and store
//! (`ours-default` is this project's layer on its default options, `apps::ours_default`;
//! `ours-turns` adds `store_turns`, `apps::ours_turns`; `ours-rolling` adds `rolling` and a
//! max age, `apps::ours_rolling`, and `ours-rolling-cached` runs it on `open_cached`; the
//! store `cookie` is this project's `CookieStore`, sessions sealed in their cookies),
//! plus `/__stats` (outside any session layer): `<bytes> <writes>` written to the memory store
//! so far when `--count-bytes` wraps it in a counting store, `0 0` otherwise. It stops on
//! SIGINT/SIGTERM or after `--max-seconds`. `report` turns the lines `bench/load.sh` collected
//! into the table and the ratios. See `bench/README.md`.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use axum::routing::get;
use session_bench::apps;
use session_bench::counting::{CountingStore, CountingTowerStore, WriteStats};
use session_bench::tower_redis::TowerRedisStore;
use sessionly::{CookieStore, MemoryStore, RedisStore};

type Error = Box<dyn std::error::Error + Send + Sync>;

fn main() -> Result<(), Error> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    match args.first().map(String::as_str) {
        Some("serve") => serve(Options::parse(&args[1..])?),
        Some("report") if args.len() == 2 => {
            let text = std::fs::read_to_string(&args[1])?;
            print!("{}", report(&text)?);
            Ok(())
        }
        _ => Err(USAGE.into()),
    }
}

const USAGE: &str = "usage: load serve --system \
                     bare|ours|ours-default|ours-turns|ours-rolling|ours-rolling-cached|tower \
                     --store memory|redis|cookie \
                     [--port N] [--redis URL] [--count-bytes] [--max-seconds N]\n       \
                     load report RESULTS.tsv";

struct Options {
    system: String,
    store: String,
    port: u16,
    redis: String,
    count_bytes: bool,
    max_seconds: u64,
}

impl Options {
    fn parse(args: &[String]) -> Result<Self, Error> {
        let mut options = Self {
            system: String::new(),
            store: "memory".to_owned(),
            port: 8090,
            redis: "redis://127.0.0.1:6390".to_owned(),
            count_bytes: false,
            max_seconds: 1800,
        };
        let mut args = args.iter();
        while let Some(flag) = args.next() {
            if flag == "--count-bytes" {
                options.count_bytes = true;
                continue;
            }
            let value = args.next().ok_or_else(|| format!("{flag} needs a value"))?;
            match flag.as_str() {
                "--system" => options.system = value.clone(),
                "--store" => options.store = value.clone(),
                "--port" => options.port = value.parse()?,
                "--redis" => options.redis = value.clone(),
                "--max-seconds" => options.max_seconds = value.parse()?,
                other => return Err(format!("unknown flag {other}\n{USAGE}").into()),
            }
        }
        Ok(options)
    }
}

#[tokio::main]
async fn serve(options: Options) -> Result<(), Error> {
    let stats = Arc::new(WriteStats::default());
    let counting = options.count_bytes;
    let app = match (options.system.as_str(), options.store.as_str()) {
        ("bare", _) => apps::bare(),
        ("ours", "memory") if counting => apps::ours(CountingStore {
            inner: MemoryStore::new(),
            stats: stats.clone(),
        }),
        ("ours", "memory") => apps::ours(MemoryStore::new()),
        ("ours", "redis") => apps::ours(RedisStore::open(&options.redis).await?),
        ("ours", "cookie") => apps::ours(CookieStore::new()),
        ("ours-rolling", "memory") => apps::ours_rolling(MemoryStore::new()),
        ("ours-rolling", "redis") => apps::ours_rolling(RedisStore::open(&options.redis).await?),
        ("ours-rolling-cached", "redis") => {
            apps::ours_rolling(RedisStore::open_cached(&options.redis, 100_000).await?)
        }
        ("ours-turns", "redis") => apps::ours_turns(RedisStore::open(&options.redis).await?),
        ("ours-cached", "redis") => {
            apps::ours(RedisStore::open_cached(&options.redis, 100_000).await?)
        }
        ("ours-default", "memory") if counting => apps::ours_default(CountingStore {
            inner: MemoryStore::new(),
            stats: stats.clone(),
        }),
        ("ours-default", "memory") => apps::ours_default(MemoryStore::new()),
        ("ours-default", "redis") => apps::ours_default(RedisStore::open(&options.redis).await?),
        ("tower", "memory") if counting => apps::tower(CountingTowerStore {
            inner: tower_sessions::MemoryStore::default(),
            stats: stats.clone(),
        }),
        ("tower", "memory") => apps::tower(tower_sessions::MemoryStore::default()),
        ("tower", "redis") => apps::tower(TowerRedisStore::open(&options.redis).await?),
        (system, store) => return Err(format!("no system {system:?} on store {store:?}").into()),
    };
    let app: Router = app.route(
        "/__stats",
        get(move || async move {
            let (bytes, writes) = stats.get();
            format!("{bytes} {writes}\n")
        }),
    );
    let listener = tokio::net::TcpListener::bind(("127.0.0.1", options.port)).await?;
    eprintln!(
        "load: {} on {} store, http://{}",
        options.system,
        options.store,
        listener.local_addr()?
    );
    let limit = Duration::from_secs(options.max_seconds);
    axum::serve(listener, app)
        .with_graceful_shutdown(stop(limit))
        .await?;
    Ok(())
}

/// Resolves on SIGINT, SIGTERM or after `limit`, whichever comes first.
async fn stop(limit: Duration) {
    use tokio::signal::unix::{SignalKind, signal};
    let mut term = signal(SignalKind::terminate()).expect("SIGTERM handler");
    tokio::select! {
        _ = tokio::signal::ctrl_c() => {}
        _ = term.recv() => {}
        () = tokio::time::sleep(limit) => eprintln!("load: --max-seconds reached, stopping"),
    }
}

/// What the runs of one system, store and route measured.
#[derive(Debug, Clone, Default)]
struct Runs {
    /// Requests per second of each round, by round.
    rounds: BTreeMap<String, f64>,
    /// The same, in round order.
    rps: Vec<f64>,
    /// p50 latency of each round, in µs.
    p50_us: Vec<f64>,
    /// p99 latency of each round, in µs.
    p99_us: Vec<f64>,
    /// Failed requests (connect, read, write, timeout) and answers other than 200.
    errors: u64,
    /// 200 answers whose body was not what the route answers.
    bad_bodies: u64,
    /// Store bytes per request: per round on Redis, from the counting run on memory.
    bytes_per_request: Vec<f64>,
    /// CPU time of the server process per request, in µs, per round.
    server_cpu_us: Vec<f64>,
    /// CPU time of redis-server per request, in µs, per round (Redis runs only).
    redis_cpu_us: Vec<f64>,
}

impl Runs {
    fn rps(&self) -> Option<f64> {
        median(&self.rps)
    }

    fn bytes(&self) -> Option<f64> {
        median(&self.bytes_per_request)
    }
}

fn median(values: &[f64]) -> Option<f64> {
    let mut sorted = values.to_vec();
    sorted.sort_by(f64::total_cmp);
    let n = sorted.len();
    match n {
        0 => None,
        _ if n % 2 == 1 => Some(sorted[n / 2]),
        _ => Some((sorted[n / 2 - 1] + sorted[n / 2]) / 2.0),
    }
}

type Key = (String, String, String);

/// Lines: `system store route round requests duration_us p50_us p99_us errors bad_body
/// bytes_per_request server_cpu_us redis_cpu_us` (`-` where not measured); round `count` marks
/// a byte-counting run, whose throughput is not reported but whose errors are.
fn parse(text: &str) -> Result<BTreeMap<Key, Runs>, Error> {
    let mut runs: BTreeMap<Key, Runs> = BTreeMap::new();
    for line in text
        .lines()
        .filter(|l| !l.trim().is_empty() && !l.starts_with('#'))
    {
        let cols: Vec<&str> = line.split('\t').collect();
        let [
            system,
            store,
            route,
            round,
            requests,
            duration_us,
            p50_us,
            p99_us,
            errors,
            bad_body,
            bytes,
            server_cpu,
            redis_cpu,
        ] = cols[..]
        else {
            return Err(format!("malformed result line: {line:?}").into());
        };
        let entry = runs
            .entry((system.into(), store.into(), route.into()))
            .or_default();
        let bytes = bytes.parse::<f64>().ok();
        entry.errors += errors.parse::<u64>()?;
        entry.bad_bodies += bad_body.parse::<u64>()?;
        if round == "count" {
            entry.bytes_per_request.extend(bytes);
            continue;
        }
        let seconds = duration_us.parse::<f64>()? / 1e6;
        let rps = requests.parse::<f64>()? / seconds;
        entry.rps.push(rps);
        entry.rounds.insert(round.to_owned(), rps);
        entry.p50_us.push(p50_us.parse()?);
        entry.p99_us.push(p99_us.parse()?);
        entry.bytes_per_request.extend(bytes);
        entry.server_cpu_us.extend(server_cpu.parse::<f64>().ok());
        entry.redis_cpu_us.extend(redis_cpu.parse::<f64>().ok());
    }
    Ok(runs)
}

fn key(system: &str, store: &str, route: &str) -> Key {
    (system.into(), store.into(), route.into())
}

/// The median over the rounds of `a`'s throughput divided by `b`'s in the same round: runs of
/// one round are back to back, so a change in background load cancels out of the ratio.
fn paired(a: Option<&Runs>, b: Option<&Runs>) -> Option<f64> {
    let (a, b) = (a?, b?);
    let ratios: Vec<f64> = a
        .rounds
        .iter()
        .filter_map(|(round, x)| Some(x / b.rounds.get(round).filter(|y| **y > 0.0)?))
        .collect();
    median(&ratios)
}

fn ratio(a: Option<f64>, b: Option<f64>) -> Option<f64> {
    match (a, b) {
        (Some(a), Some(b)) if b > 0.0 => Some(a / b),
        _ => None,
    }
}

fn show(value: Option<f64>, digits: usize) -> String {
    value.map_or_else(|| "n/a".to_owned(), |v| format!("{v:.digits$}"))
}

/// The systems of the report, in its order: the two bare frameworks, then each store's.
const SYSTEMS: [(&str, &str); 13] = [
    ("bare", "-"),
    ("express-bare", "-"),
    ("ours", "memory"),
    ("ours-default", "memory"),
    ("tower", "memory"),
    ("express", "memory"),
    ("ours", "redis"),
    ("ours-default", "redis"),
    ("ours-turns", "redis"),
    ("ours-cached", "redis"),
    ("tower", "redis"),
    ("express", "redis"),
    ("ours", "cookie"),
];

fn report(text: &str) -> Result<String, Error> {
    let runs = parse(text)?;
    let get = |s: &str, st: &str, r: &str| runs.get(&key(s, st, r));
    let bytes = |s: &str, st: &str, r: &str| runs.get(&key(s, st, r)).and_then(Runs::bytes);
    let cpu = |r: Option<&Runs>| r.and_then(|r| median(&r.server_cpu_us));
    let mut out = String::new();
    writeln!(
        out,
        "| system | store | route | req/s | req/s min–max | p50 (µs) | p99 (µs) | server CPU µs/req | Redis CPU µs/req | store bytes/req | errors | bad bodies |"
    )?;
    writeln!(
        out,
        "|---|---|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|"
    )?;
    for (system, store) in SYSTEMS {
        for route in apps::ROUTES {
            let Some(run) = runs.get(&key(system, store, route)) else {
                continue;
            };
            let spread = |f: fn(f64, f64) -> f64| run.rps.iter().copied().reduce(f);
            // A run with errors or wrong answers measured something else than the route.
            let flag = if run.errors + run.bad_bodies > 0 {
                " ⚠"
            } else {
                ""
            };
            writeln!(
                out,
                "| {} | {store} | {route} | {}{flag} | {}–{} | {} | {} | {} | {} | {} | {} | {} |",
                name(system),
                show(run.rps(), 0),
                show(spread(f64::min), 0),
                show(spread(f64::max), 0),
                show(median(&run.p50_us), 0),
                show(median(&run.p99_us), 0),
                show(median(&run.server_cpu_us), 1),
                show(median(&run.redis_cpu_us), 1),
                show(run.bytes(), 1),
                run.errors,
                run.bad_bodies
            )?;
        }
    }

    writeln!(out)?;
    writeln!(
        out,
        "| store | route | ours / bare axum (req/s) | ours (defaults) / bare axum | ours (store turns) / ours | tower-sessions / bare axum | express-session / bare Express | express-session / bare axum | ours / tower-sessions (req/s) | ours / tower-sessions (bytes/req) | ours / express-session (req/s) | express-session / ours (CPU µs/req) | ours (client cache) / tower-sessions (req/s) | ours (client cache) / ours (store bytes/req) |"
    )?;
    writeln!(
        out,
        "|---|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|"
    )?;
    for store in ["memory", "redis", "cookie"] {
        for route in apps::ROUTES {
            let bare = get("bare", "-", route);
            let ours = get("ours", store, route);
            let tower = get("tower", store, route);
            let express = get("express", store, route);
            let cached = get("ours-cached", store, route);
            writeln!(
                out,
                "| {store} | {route} | {} | {} | {} | {} | {} | {} | {} | {} | {} | {} | {} | {} |",
                show(paired(ours, bare), 3),
                show(paired(get("ours-default", store, route), bare), 3),
                show(paired(get("ours-turns", store, route), ours), 3),
                show(paired(tower, bare), 3),
                show(paired(express, get("express-bare", "-", route)), 3),
                show(paired(express, bare), 3),
                show(paired(ours, tower), 3),
                show(
                    ratio(bytes("ours", store, route), bytes("tower", store, route)),
                    4
                ),
                show(paired(ours, express), 3),
                show(ratio(cpu(express), cpu(ours)), 2),
                show(paired(cached, tower), 3),
                show(
                    ratio(
                        bytes("ours-cached", store, route),
                        bytes("ours", store, route)
                    ),
                    3
                ),
            )?;
        }
    }

    writeln!(out)?;
    writeln!(
        out,
        "| store | route | ours − bare axum (server CPU µs/req) | ours (defaults) − bare axum | tower-sessions − bare axum | express-session − bare Express |"
    )?;
    writeln!(out, "|---|---|---:|---:|---:|---:|")?;
    let added = |system: &str, store: &str, route: &str, base: &str| {
        Some(cpu(get(system, store, route))? - cpu(get(base, "-", route))?)
    };
    for store in ["memory", "redis", "cookie"] {
        for route in apps::ROUTES {
            writeln!(
                out,
                "| {store} | {route} | {} | {} | {} | {} |",
                show(added("ours", store, route, "bare"), 1),
                show(added("ours-default", store, route, "bare"), 1),
                show(added("tower", store, route, "bare"), 1),
                show(added("express", store, route, "express-bare"), 1),
            )?;
        }
    }

    writeln!(out)?;
    writeln!(out, "| target | measured | verdict |")?;
    writeln!(out, "|---|---:|---|")?;
    let targets: [(&str, Option<f64>, bool); 8] = [
        (
            "memory, read: ours >= 0.95x bare axum",
            paired(get("ours", "memory", "read"), get("bare", "-", "read")),
            true,
        ),
        (
            "memory, incr: ours >= 0.85x bare axum",
            paired(get("ours", "memory", "incr"), get("bare", "-", "incr")),
            true,
        ),
        (
            "redis, incr: ours >= 1.3x tower-sessions",
            paired(get("ours", "redis", "incr"), get("tower", "redis", "incr")),
            true,
        ),
        (
            "redis, read: ours (client cache) >= 1.5x tower-sessions",
            paired(
                get("ours-cached", "redis", "read"),
                get("tower", "redis", "read"),
            ),
            true,
        ),
        (
            "redis, incr: ours (client cache) >= 1.3x tower-sessions",
            paired(
                get("ours-cached", "redis", "incr"),
                get("tower", "redis", "incr"),
            ),
            true,
        ),
        (
            "redis, incr: ours (client cache) bytes/req <= ours",
            ratio(
                bytes("ours-cached", "redis", "incr"),
                bytes("ours", "redis", "incr"),
            ),
            false,
        ),
        (
            "redis, large: ours >= 3x tower-sessions",
            paired(
                get("ours", "redis", "large"),
                get("tower", "redis", "large"),
            ),
            true,
        ),
        (
            "redis, large: ours bytes/req <= 1/50 of tower-sessions",
            ratio(
                bytes("ours", "redis", "large"),
                bytes("tower", "redis", "large"),
            ),
            false,
        ),
    ];
    let limits = [0.95, 0.85, 1.3, 1.5, 1.3, 1.0, 3.0, 1.0 / 50.0];
    for ((what, value, at_least), limit) in targets.into_iter().zip(limits) {
        let verdict = match value {
            None => "not measured",
            Some(v) if (at_least && v >= limit) || (!at_least && v <= limit) => "met",
            Some(_) => "MISSED",
        };
        writeln!(out, "| {what} | {} | {verdict} |", show(value, 3))?;
    }
    let errors: u64 = runs.values().map(|r| r.errors).sum();
    let bad_bodies: u64 = runs.values().map(|r| r.bad_bodies).sum();
    if errors + bad_bodies > 0 {
        writeln!(
            out,
            "\nWARNING: {errors} failed or non-200 responses and {bad_bodies} wrong bodies; \
             the runs marked ⚠ did not measure their route."
        )?;
    }
    Ok(out)
}

fn name(system: &str) -> &str {
    match system {
        "tower" => "tower-sessions",
        "bare" => "bare axum",
        "express" => "express-session",
        "express-bare" => "bare Express",
        "ours-default" => "ours (defaults)",
        "ours-cached" => "ours (client cache)",
        other => other,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reports_medians_ratios_and_verdicts() {
        let text = "bare\t-\tread\t1\t1000\t1000000\t20\t50\t0\t0\t-\t10.0\t-\n\
                    bare\t-\tread\t2\t900\t1000000\t20\t50\t0\t0\t-\t11.0\t-\n\
                    bare\t-\tread\t3\t5000\t1000000\t20\t50\t0\t0\t-\t12.0\t-\n\
                    ours\tmemory\tread\tcount\t10\t1000000\t30\t60\t0\t0\t12.5\t-\t-\n\
                    ours\tmemory\tread\t1\t960\t1000000\t30\t60\t0\t0\t-\t13.0\t-\n\
                    express-bare\t-\tread\t1\t600\t1000000\t40\t65\t0\t0\t-\t30.0\t-\n\
                    express\tmemory\tread\tcount\t10\t1000000\t45\t70\t0\t0\t200\t-\t-\n\
                    express\tmemory\tread\t1\t480\t1000000\t45\t70\t0\t0\t-\t39.0\t-\n\
                    ours\tredis\tlarge\t1\t300\t1000000\t35\t60\t0\t0\t100\t20.0\t5.0\n\
                    tower\tredis\tlarge\t1\t100\t1000000\t40\t60\t0\t0\t20000\t90.0\t9.0\n";
        let out = report(text).unwrap();
        assert!(
            out.contains(
                "| bare axum | - | read | 1000 | 900–5000 | 20 | 50 | 11.0 | n/a | n/a | 0 | 0 |"
            ),
            "{out}"
        );
        assert!(out.contains(
            "| ours | memory | read | 960 | 960–960 | 30 | 60 | 13.0 | n/a | 12.5 | 0 | 0 |"
        ));
        assert!(out.contains(
            "| ours | redis | large | 300 | 300–300 | 35 | 60 | 20.0 | 5.0 | 100.0 | 0 | 0 |"
        ));
        assert!(out.contains("| memory, read: ours >= 0.95x bare axum | 0.960 | met |"));
        assert!(
            out.contains(
                "| express-session | memory | read | 480 | 480–480 | 45 | 70 | 39.0 | n/a | 200.0 | 0 | 0 |"
            ),
            "{out}"
        );
        // ours / bare 0.96, ours (defaults), ours (store turns) and tower n/a, express / bare
        // Express 0.8, express / bare axum 0.48, ...; ours / express 2.0 (paired by round),
        // express's CPU 39 µs over ours' 13 µs: 3.00x.
        assert!(
            out.contains(
                "| memory | read | 0.960 | n/a | n/a | n/a | 0.800 | 0.480 | n/a | n/a | 2.000 | 3.00 |"
            ),
            "{out}"
        );
        // CPU added over the bare framework: ours 13 - 11, express 39 - 30.
        assert!(
            out.contains("| memory | read | 2.0 | n/a | n/a | 9.0 |"),
            "{out}"
        );
        assert!(out.contains("| redis, large: ours >= 3x tower-sessions | 3.000 | met |"));
        assert!(out.contains("1/50 of tower-sessions | 0.005 | met |"));
        assert!(out.contains("| memory, incr: ours >= 0.85x bare axum | n/a | not measured |"));
        assert!(!out.contains("WARNING"));
    }

    #[test]
    fn marks_runs_with_errors_or_wrong_bodies() {
        let text = "ours\tmemory\tread\tcount\t10\t1000000\t30\t60\t1\t0\t12.5\t-\t-\n\
                    ours\tmemory\tread\t1\t960\t1000000\t30\t60\t0\t4\t-\t13.0\t-\n";
        let out = report(text).unwrap();
        assert!(
            out.contains(
                "| ours | memory | read | 960 ⚠ | 960–960 | 30 | 60 | 13.0 | n/a | 12.5 | 1 | 4 |"
            ),
            "{out}"
        );
        assert!(out.contains("WARNING: 1 failed or non-200 responses and 4 wrong bodies"));
    }
}
