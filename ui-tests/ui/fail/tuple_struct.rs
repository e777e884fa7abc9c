use sessionly::SessionData;

#[derive(SessionData)]
struct Account(Option<u64>, Vec<u32>);

fn main() {}
