use sessionly::SessionData;

#[derive(SessionData)]
struct Account {
    #[session(flash)]
    notice: String,
    #[session(flash)]
    messages: Vec<Option<String>>,
    // These are all accepted.
    #[session(flash)]
    a: Option<String>,
    #[session(flash)]
    b: std::option::Option<String>,
    #[session(flash)]
    c: core::option::Option<String>,
    #[session(flash)]
    d: ::core::option::Option<String>,
}

fn main() {}
