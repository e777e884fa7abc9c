use serde::{Deserialize, Serialize};
use sessionly::SessionData;

#[derive(SessionData, Serialize, Deserialize)]
struct Account {
    // Other attributes, serde's included, are not the derive's business.
    #[serde(default)]
    #[session(renam = "user", skip_serializing, flash)]
    user_id: Option<u64>,
    #[session(codec = ::sessionly::Json)]
    cart: Vec<u32>,
}

fn main() {}
