use sessionly::SessionData;

struct Yaml;

#[derive(SessionData)]
#[session(codec = Yaml)]
struct Account {
    user_id: Option<u64>,
}

fn main() {}
