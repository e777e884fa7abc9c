use session::__private::{Fields, Tracked};
use session::SessionData;

#[derive(SessionData)]
struct Wrapper<T> {
    value: T,
}

#[derive(Default)]
struct Opaque;

fn main() {
    let _ = <<Wrapper<Opaque> as SessionData>::Tracked as Tracked>::load(&Fields::new());
}
