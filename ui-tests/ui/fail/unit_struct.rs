use session::SessionData;

#[derive(SessionData)]
struct Account;

fn main() {}
