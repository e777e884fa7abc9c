use sessionly::SessionData;

#[derive(SessionData)]
struct Account {
    user: Option<u64>,
    #[session(rename = "user")]
    user_id: Option<u64>,
    #[session(rename = "cart")]
    basket: Vec<u32>,
    #[session(rename = "cart")]
    wishlist: Vec<u32>,
    // Skip fields have no stored name, so they clash with nothing.
    #[session(skip)]
    cart: Vec<u32>,
}

fn main() {}
