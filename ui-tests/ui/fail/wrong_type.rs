// Writing a value of the wrong type is a compile error.
use sessionly::{SessionData, TypedSession};

#[derive(SessionData)]
struct Account {
    user_id: Option<u64>,
}

async fn handler(mut session: TypedSession<Account>) {
    session.set_user_id(Some("seven"));
}

fn main() {
    let _ = handler;
}
