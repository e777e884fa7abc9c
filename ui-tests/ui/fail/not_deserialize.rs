// A type that serde can write but not read back cannot be stored either: the same one error.
use serde::Serialize;
use sessionly::SessionData;

#[derive(Serialize, Default)]
struct Receipt {
    total: u64,
}

#[derive(SessionData)]
struct Account {
    user_id: Option<u64>,
    receipt: Receipt,
}

fn main() {}
