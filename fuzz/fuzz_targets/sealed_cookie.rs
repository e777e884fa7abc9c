//! A cookie session's cookie value, and the payload sealed in it, from any bytes.
#![no_main]

libfuzzer_sys::fuzz_target!(|bytes: &[u8]| {
    sessionly::__fuzz::sealed_cookie(bytes);
});
