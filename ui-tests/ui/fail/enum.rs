use sessionly::SessionData;

#[derive(SessionData)]
enum Account {
    Guest,
    User { id: u64 },
}

fn main() {}
