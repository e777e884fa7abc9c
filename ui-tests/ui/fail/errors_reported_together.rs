use sessionly::SessionData;

#[derive(SessionData)]
#[session(format = "json")]
struct Account {
    #[session(flash)]
    notice: String,
    #[session(skip, rename = "x")]
    id: u64,
    #[session(rename = "notice")]
    other: u8,
}

fn main() {}
