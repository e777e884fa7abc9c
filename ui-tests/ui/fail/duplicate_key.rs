use sessionly::SessionData;

fn zero() -> u8 {
    0
}

#[derive(SessionData)]
#[session(codec = ::sessionly::Json, codec = ::sessionly::Postcard)]
struct Account {
    #[session(rename = "a", rename = "b")]
    a: u8,
    #[session(flash)]
    #[session(flash)]
    b: Option<u8>,
    #[session(default = zero, skip, default = zero, skip)]
    c: u8,
}

fn main() {}
