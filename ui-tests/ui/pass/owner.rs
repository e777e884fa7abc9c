use sessionly::SessionData;

#[derive(SessionData)]
struct ByNumber {
    #[session(owner)]
    user_id: Option<u64>,
    cart: Vec<u32>,
}

#[derive(SessionData)]
struct ByName {
    #[session(owner, rename = "u")]
    user: ::core::option::Option<String>,
}

fn main() {}
