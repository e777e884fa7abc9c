use sessionly::__private::{Fields, Tracked};
use sessionly::SessionData;

#[derive(SessionData)]
struct Wrapper<T> {
    value: T,
}

#[derive(Default)]
struct Opaque;

fn main() {
    let _ = <<Wrapper<Opaque> as SessionData>::Tracked as Tracked>::load(&Fields::new());
}
