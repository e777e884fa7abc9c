use sessionly::SessionData;

#[derive(SessionData)]
#[session(codex = ::sessionly::Json)]
#[session(rename = "account", deny_unknown_fields)]
struct Account {
    user_id: Option<u64>,
}

fn main() {}
