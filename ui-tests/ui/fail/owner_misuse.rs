use sessionly::SessionData;

#[derive(SessionData)]
struct Account {
    #[session(owner)]
    user_id: u64,
    #[session(owner)]
    email: Option<String>,
    #[session(owner, skip)]
    device: Option<String>,
    #[session(owner, flash)]
    notice: Option<String>,
    #[session(owner = "yes")]
    team: Option<String>,
}

fn main() {}
