use sessionly::SessionData;

#[derive(SessionData)]
#[session(crate = not_a_crate)]
struct Account {
    user_id: Option<u64>,
}

fn main() {}
