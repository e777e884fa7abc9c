// One error per field whose type serde cannot store, at that field, and none elsewhere.
use sessionly::SessionData;

#[derive(Default)]
struct Cart {
    items: Vec<u32>,
}

#[derive(Default)]
struct Basket;

#[derive(SessionData)]
struct Account {
    cart: Cart,
    user_id: Option<u64>,
    // A request-local field is never stored, so it needs no serde.
    #[session(skip)]
    scratch: Basket,
    #[session(flash)]
    basket: Option<Basket>,
}

fn main() {}
