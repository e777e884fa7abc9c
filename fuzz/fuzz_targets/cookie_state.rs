//! The versioned cookie state every persistent store keeps, from any bytes.
#![no_main]

libfuzzer_sys::fuzz_target!(|bytes: &[u8]| {
    sessionly::__fuzz::cookie_state(bytes);
});
