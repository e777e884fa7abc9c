use sessionly::SessionData;

// Both store a `user`: the namespace keeps them apart ("auth/user" and "user").
#[derive(SessionData)]
#[session(namespace = "auth")]
struct Auth {
    #[session(owner)]
    user: Option<String>,
    #[session(rename = "since")]
    signed_in_at: u64,
}

#[derive(SessionData)]
#[session(namespace = "csrf-v2_1", codec = ::sessionly::Postcard)]
struct Csrf {
    token: Option<String>,
}

#[derive(SessionData)]
struct App {
    user: Vec<u32>,
}

fn main() {}
