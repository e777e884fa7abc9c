use sessionly::SessionData;

#[derive(Default)]
struct Cart {
    items: Vec<u32>,
}

#[derive(SessionData)]
struct Account {
    user_id: Option<u64>,
    cart: Cart,
}

fn main() {}
