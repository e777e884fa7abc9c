// A struct's codec is used by every stored field: a type that is not a codec is reported once
// per field, each at the codec.
use sessionly::SessionData;

struct Yaml;

#[derive(SessionData)]
#[session(codec = Yaml)]
struct Account {
    user_id: Option<u64>,
    cart: Vec<u32>,
}

fn main() {}
