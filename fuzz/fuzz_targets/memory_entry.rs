//! A memory store entry (expiry, owner, cookie state, fields in one blob) from any bytes.
#![no_main]

libfuzzer_sys::fuzz_target!(|bytes: &[u8]| {
    sessionly::__fuzz::memory_entry(bytes);
});
