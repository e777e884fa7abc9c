use serde::{Deserialize, Serialize};
use sessionly::SessionData;

#[derive(Serialize, Deserialize)]
struct Level(u8);

#[derive(SessionData)]
struct Account {
    level: Level,
}

fn main() {}
