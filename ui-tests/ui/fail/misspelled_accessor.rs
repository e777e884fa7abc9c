// A misspelled field is a compile error on the extractor, not a runtime `None`.
use sessionly::{SessionData, TypedSession};

#[derive(SessionData)]
struct Account {
    user_id: Option<u64>,
}

async fn handler(session: TypedSession<Account>) -> String {
    format!("{:?}", session.user_idd())
}

fn main() {
    let _ = handler;
}
