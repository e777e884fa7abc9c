use sessionly::SessionData;

#[derive(SessionData)]
struct Account;

fn main() {}
