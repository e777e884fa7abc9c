//! The express-session app of `tests/node`, run beside the Rust apps of the interop and browser
//! tests.

use super::redis_url;
use std::process::Stdio;
use std::time::Duration;

use sessionly::ConnectRedisStore;
use tokio::io::{AsyncBufReadExt as _, AsyncReadExt as _, AsyncWriteExt as _, BufReader};

/// The secret the Node app signs its cookies with; the Rust apps beside it use it too.
pub const SECRET: &str = "shared between Node and Rust";

/// A running Node app, killed when dropped.
pub struct Node {
    pub port: u16,
    _child: tokio::process::Child,
}

impl Node {
    pub async fn start(env: &[(&str, String)]) -> Self {
        let dir = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/node");
        assert!(
            std::path::Path::new(dir)
                .join("node_modules/express-session")
                .exists(),
            "run `npm ci` in tests/node first (.ci/run does)"
        );
        let mut command = tokio::process::Command::new("node");
        command
            .arg("app.js")
            .current_dir(dir)
            .env("SECRET", SECRET)
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .kill_on_drop(true);
        for (name, value) in env {
            command.env(name, value);
        }
        let mut child = command
            .spawn()
            .expect("node is installed (.ci/run installs it)");
        let stdout = child.stdout.take().unwrap();
        let mut lines = BufReader::new(stdout).lines();
        let line = tokio::time::timeout(Duration::from_secs(20), lines.next_line())
            .await
            .expect("the Node app starts within 20 s")
            .unwrap()
            .expect("the Node app prints its port");
        let port = line
            .strip_prefix("listening ")
            .and_then(|port| port.parse().ok())
            .unwrap_or_else(|| panic!("unexpected first line from the Node app: {line}"));
        Self {
            port,
            _child: child,
        }
    }

    /// `GET path` with the cookie header `cookie`: the status, the session cookie it sets (its
    /// `name=value`), and the body.
    pub async fn get(&self, path: &str, cookie: Option<&str>) -> (u16, Option<String>, String) {
        let mut stream = tokio::net::TcpStream::connect(("127.0.0.1", self.port))
            .await
            .unwrap();
        let cookie = cookie
            .map(|c| format!("Cookie: {c}\r\n"))
            .unwrap_or_default();
        let request =
            format!("GET {path} HTTP/1.1\r\nHost: 127.0.0.1\r\n{cookie}Connection: close\r\n\r\n");
        stream.write_all(request.as_bytes()).await.unwrap();
        let mut response = String::new();
        stream.read_to_string(&mut response).await.unwrap();
        let (head, body) = response.split_once("\r\n\r\n").unwrap();
        let status = head[9..12].parse().unwrap();
        let set_cookie = head
            .lines()
            .find_map(|line| line.strip_prefix("Set-Cookie: "))
            .and_then(|value| value.split(';').next())
            .map(str::to_owned);
        (status, set_cookie, body.to_owned())
    }

    /// The session Node sees for `cookie`, as its JSON.
    pub async fn whoami(&self, cookie: &str) -> serde_json::Value {
        let (status, _, body) = self.get("/whoami", Some(cookie)).await;
        assert_eq!(status, 200, "{body}");
        serde_json::from_str(&body).unwrap()
    }
}

/// A Node app on connect-redis and the Rust store of the same sessions, under a key prefix of
/// their own.
pub async fn redis_pair(test: &str, max_age_ms: u64) -> (Node, ConnectRedisStore) {
    let prefix = format!("interop:{test}:{}:", std::process::id());
    let node = Node::start(&[
        ("STORE", "redis".into()),
        ("REDIS_URL", redis_url()),
        ("PREFIX", prefix.clone()),
        ("MAX_AGE_MS", max_age_ms.to_string()),
    ])
    .await;
    let store = ConnectRedisStore::open(&redis_url())
        .await
        .unwrap()
        .with_prefix(prefix);
    (node, store)
}
