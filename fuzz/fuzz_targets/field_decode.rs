//! The derive's field decoding: a stored session of any field names and bytes loads into
//! typed schemas (both codecs) without a panic, and a value the codec decodes encodes back to
//! bytes that decode to the same value, both as a value and as a field (a large postcard field
//! carries its type's digest).
#![no_main]

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};
use sessionly::__private::{Fields, Tracked};
use sessionly::{Codec, Json, Postcard, SessionData};

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
enum Role {
    #[default]
    Guest,
    Member(u32),
    Admin {
        since: u16,
        note: Option<String>,
    },
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
struct Line {
    sku: u32,
    quantity: u16,
    label: String,
}

#[derive(SessionData)]
struct Compact {
    #[session(owner)]
    user: Option<String>,
    views: u64,
    delta: i32,
    ratio: f64,
    cart: Vec<Line>,
    role: Role,
    scores: BTreeMap<String, u32>,
}

#[derive(SessionData)]
#[session(codec = ::sessionly::Json)]
struct Readable {
    views: u64,
    cart: Vec<Line>,
    role: Role,
}

fn round_trips<C: Codec, T>(bytes: &[u8])
where
    T: Serialize + for<'de> Deserialize<'de> + PartialEq + std::fmt::Debug,
{
    if let Ok(value) = C::decode::<T>(bytes) {
        let again = C::encode(&value).expect("a decoded value encodes");
        let back = C::decode::<T>(&again).expect("its encoding decodes");
        // NaN is not equal to itself; compare the encodings then.
        if back != value {
            assert_eq!(C::encode(&back).expect("encodes"), again);
        }
        // As the derive stores it (a large postcard value with its type's digest).
        let field = C::encode_field(&value).expect("a decoded value encodes as a field");
        let back = C::decode::<T>(&field).expect("a field's encoding decodes");
        if back != value {
            assert_eq!(C::encode(&back).expect("encodes"), again);
        }
    }
}

libfuzzer_sys::fuzz_target!(|stored: Vec<(String, Vec<u8>)>| {
    let fields: Fields = stored
        .iter()
        .map(|(name, bytes)| (name.clone(), bytes.clone().into()))
        .collect();
    let _ = <<Compact as SessionData>::Tracked as Tracked>::load(&fields);
    let _ = <<Readable as SessionData>::Tracked as Tracked>::load(&fields);
    for (_, bytes) in &stored {
        round_trips::<Postcard, Option<String>>(bytes);
        round_trips::<Postcard, Vec<Line>>(bytes);
        round_trips::<Postcard, Role>(bytes);
        round_trips::<Postcard, BTreeMap<String, u32>>(bytes);
        round_trips::<Postcard, (u8, i64, f32)>(bytes);
        round_trips::<Json, Vec<Line>>(bytes);
        round_trips::<Json, Role>(bytes);
    }
});
