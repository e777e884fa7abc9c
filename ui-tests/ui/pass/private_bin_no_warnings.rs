//! Private structs in a binary, most accessors unused, no stored field or no field at all:
//! the generated code must not warn.
#![deny(warnings)]

use sessionly::__private::{Fields, Tracked};
use sessionly::SessionData;

#[derive(SessionData)]
struct Account {
    user_id: Option<u64>,
    #[session(skip)]
    scratch: u8,
}

#[derive(SessionData)]
struct Empty {}

#[derive(SessionData)]
struct OnlyLocal {
    #[session(skip)]
    scratch: Vec<u8>,
}

fn load<T: SessionData>() -> T::Tracked {
    <T::Tracked as Tracked>::load(&Fields::new())
}

fn main() {
    let account = load::<Account>();
    assert_eq!(*account.user_id(), None);
    let _ = load::<Empty>();
    let mut local = load::<OnlyLocal>();
    local.scratch_mut().push(1);
    assert_eq!(local.data().scratch, [1]);
}
