use serde::{Deserialize, Serialize};
use sessionly::SessionData;

#[derive(Serialize, Deserialize, Default)]
struct UserRef {
    id: u64,
}

#[derive(SessionData)]
struct Account {
    // The owner is indexed by its text, so its type must implement `Display`.
    #[session(owner)]
    user: Option<UserRef>,
}

fn main() {}
