use sessionly::SessionData;

#[derive(SessionData)]
struct Account {
    #[session(skip, rename = "cache")]
    cache: Vec<u8>,
    #[session(flash)]
    #[session(skip)]
    notice: Option<String>,
    // `skip` with `default` is fine: the default is where the field starts.
    #[session(skip, default = Vec::new)]
    scratch: Vec<u8>,
}

fn main() {}
