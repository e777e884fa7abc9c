//! `#[session(codec = ...)]` picks the codec every field is decoded with.
#![deny(warnings)]

use sessionly::__private::{Fields, Tracked};
use sessionly::{Codec, Json, Postcard, SessionData};

#[derive(SessionData)]
#[session(codec = ::sessionly::Json)]
struct Readable {
    name: String,
    tags: Vec<String>,
}

#[derive(SessionData)]
#[session(codec = "sessionly::Json")]
struct AsString {
    count: u32,
}

fn main() {
    let mut fields = Fields::new();
    fields.insert("name".into(), br#""ada""#.to_vec().into());
    fields.insert("tags".into(), Json::encode(&["a", "b"]).unwrap().into());
    let readable = <<Readable as SessionData>::Tracked as Tracked>::load(&fields);
    assert_eq!(readable.name(), "ada");
    assert_eq!(readable.tags(), &["a", "b"]);

    // Postcard bytes do not decode as JSON: the field falls back to its default.
    let mut fields = Fields::new();
    fields.insert("count".into(), Postcard::encode(&7u32).unwrap().into());
    let as_string = <<AsString as SessionData>::Tracked as Tracked>::load(&fields);
    assert_eq!(*as_string.count(), 0);
    fields.insert("count".into(), b"7".to_vec().into());
    let as_string = <<AsString as SessionData>::Tracked as Tracked>::load(&fields);
    assert_eq!(*as_string.count(), 7);
}
