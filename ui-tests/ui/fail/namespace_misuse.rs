use sessionly::SessionData;

// A namespace must be a plain word.
#[derive(SessionData)]
#[session(namespace = "auth/v2")]
struct Slash {
    user: Option<u64>,
}

#[derive(SessionData)]
#[session(namespace = "")]
struct Empty {
    user: Option<u64>,
}

#[derive(SessionData)]
#[session(namespace = "auth", namespace = "csrf")]
struct Twice {
    user: Option<u64>,
}

#[derive(SessionData)]
#[session(namespace = auth)]
struct NotAString {
    user: Option<u64>,
}

// `/` in a stored name would let a field pose as another namespace's.
#[derive(SessionData)]
struct PosingAsNamespaced {
    #[session(rename = "auth/user")]
    user: Option<u64>,
}

fn main() {}
