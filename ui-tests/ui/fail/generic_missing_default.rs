// A generic struct's parameter used as a field without `default = ...` must be `Default`; a type
// that is not is reported where the struct is used, with the same message as a concrete field.
use serde::{Deserialize, Serialize};
use sessionly::__private::{Fields, Tracked};
use sessionly::SessionData;

#[derive(SessionData)]
struct Wrapper<T> {
    value: T,
}

#[derive(Serialize, Deserialize)]
struct Level(u8);

fn main() {
    let _ = <<Wrapper<Level> as SessionData>::Tracked as Tracked>::load(&Fields::new());
}
