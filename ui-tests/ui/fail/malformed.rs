use sessionly::SessionData;

#[derive(SessionData)]
struct Account {
    #[session(rename = user)]
    a: u8,
    #[session(rename)]
    b: u8,
    #[session(skip = true)]
    c: u8,
    #[session(default = make())]
    d: u8,
    #[session(default = 5)]
    e: u8,
    #[session(rename = "")]
    f: u8,
    #[session]
    g: u8,
    #[session = "h"]
    h: u8,
}

#[derive(SessionData)]
#[session(crate)]
struct NoCratePath {
    a: u8,
}

#[derive(SessionData)]
#[session(crate = 5)]
struct NotACratePath {
    a: u8,
}

fn main() {}
