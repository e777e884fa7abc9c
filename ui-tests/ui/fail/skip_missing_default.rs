// A request-local field starts at its default in every request, so it needs one too; a type of
// another crate cannot derive `Default`, so the fix is `#[session(default = ...)]`.
use sessionly::SessionData;

#[derive(SessionData)]
struct Account {
    user_id: Option<u64>,
    #[session(skip)]
    started: std::time::Instant,
}

fn main() {}
