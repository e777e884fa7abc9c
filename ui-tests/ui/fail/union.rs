use sessionly::SessionData;

#[derive(SessionData)]
union Account {
    id: u64,
    flags: u32,
}

fn main() {}
