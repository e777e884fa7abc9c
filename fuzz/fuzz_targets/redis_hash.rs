//! A session hash as Redis answers `HGETALL`, with any fields and values: a record whose
//! fields are exactly the hash's `f:` fields, or nothing.
#![no_main]

libfuzzer_sys::fuzz_target!(|entries: Vec<(Vec<u8>, Vec<u8>)>| {
    if let Some(record) = sessionly::__fuzz::redis_hash(entries.clone()) {
        for (name, value) in &record.fields {
            let key = [b"f:".as_slice(), name.as_bytes()].concat();
            assert!(
                entries
                    .iter()
                    .any(|(k, v)| *k == key && v == value.as_ref()),
                "field {name} not from the hash"
            );
        }
    }
});
