use sessionly::SessionData;

#[derive(SessionData)]
struct Account {
    user: Option<u64>,
    set_user: bool,
    cart_mut: Vec<u32>,
    cart: Vec<u32>,
}

fn main() {}
