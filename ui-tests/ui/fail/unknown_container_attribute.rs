use session::SessionData;

#[derive(SessionData)]
#[session(codex = ::session::Json)]
#[session(rename = "account", deny_unknown_fields)]
struct Account {
    user_id: Option<u64>,
}

fn main() {}
