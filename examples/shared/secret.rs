//! The examples' session secret.

/// `SESSION_SECRET` if it is set (at least 32 random bytes: `openssl rand -base64 32`), else a
/// random one for this run, so a demo starts with nothing to configure; its sessions then end
/// when the server stops.
pub fn from_env() -> String {
    std::env::var("SESSION_SECRET").unwrap_or_else(|_| {
        eprintln!("SESSION_SECRET is not set: a random secret for this run (sessions end with it)");
        sessionly::generate_id()
    })
}
