// Assigning to a field of the session: the fields are reached through accessors only
// (`set_cart`, `cart_mut`), so that every change is tracked.
use sessionly::{SessionData, TypedSession};

#[derive(SessionData)]
struct Account {
    user_id: Option<u64>,
    cart: Vec<u32>,
}

async fn assign(mut session: TypedSession<Account>) {
    session.cart = vec![1];
}

async fn push(mut session: TypedSession<Account>) {
    session.cart.push(1);
}

async fn read(session: TypedSession<Account>) -> usize {
    session.cart.len()
}

async fn through_data(mut session: TypedSession<Account>) {
    session.data().cart.push(1);
}

fn main() {
    let _ = (assign, push, read, through_data);
}
