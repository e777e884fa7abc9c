//! A patch of a memory store entry: applied in place where the store does that, it gives what
//! rebuilding the entry gives; declined, it leaves the entry untouched.
#![no_main]

use arbitrary::Arbitrary;
use sessionly::__fuzz::{MemoryEntry, MemoryPatch, memory_patch};

#[derive(Arbitrary, Debug)]
struct Input {
    entry_expires_ms: u64,
    entry_owner: Option<String>,
    entry_cookie: Vec<u8>,
    entry_fields: Vec<(String, Vec<u8>)>,
    /// Each named field: one of the entry's (by index) or a new name, and its new value.
    named: Vec<(Named, Option<Vec<u8>>)>,
    owner: Option<Option<String>>,
    /// The new cookie state: the entry's with these bytes over its start, or other bytes.
    cookie: Cookie,
    expires_ms: u64,
}

#[derive(Arbitrary, Debug)]
enum Named {
    Stored(u8),
    New(String),
}

#[derive(Arbitrary, Debug)]
enum Cookie {
    SameLength(Vec<u8>),
    Other(Vec<u8>),
}

libfuzzer_sys::fuzz_target!(|input: Input| {
    let mut fields = input.entry_fields;
    fields.sort_by(|a, b| a.0.cmp(&b.0));
    fields.dedup_by(|a, b| a.0 == b.0);
    let fields_named = input
        .named
        .into_iter()
        .filter_map(|(named, value)| {
            let name = match named {
                Named::Stored(i) if !fields.is_empty() => {
                    fields[usize::from(i) % fields.len()].0.clone()
                }
                Named::Stored(_) => return None,
                Named::New(name) => name,
            };
            Some((name, value))
        })
        .collect::<std::collections::BTreeMap<_, _>>()
        .into_iter()
        .collect();
    let cookie = match input.cookie {
        Cookie::SameLength(bytes) => {
            let mut cookie = input.entry_cookie.clone();
            for (to, from) in cookie.iter_mut().zip(bytes) {
                *to = from;
            }
            cookie
        }
        Cookie::Other(bytes) => bytes,
    };
    let entry = MemoryEntry {
        expires_ms: input.entry_expires_ms,
        owner: input.entry_owner,
        cookie: input.entry_cookie,
        fields,
    };
    let patch = MemoryPatch {
        fields: fields_named,
        owner: input.owner,
        cookie,
        expires_ms: input.expires_ms,
    };
    memory_patch(&entry, &patch);
});
