use sessionly::SessionData;

#[derive(SessionData)]
struct Account {
    id: u64,
    max_age: u32,
    #[session(rename = "payload")]
    data: Vec<u8>,
    #[session(skip)]
    expires: u64,
    // Not reserved: the generated names do not collide.
    ids: Vec<u64>,
}

fn main() {}
