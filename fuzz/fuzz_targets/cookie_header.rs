//! The `Cookie` header lookup and the express-format signature check, on any header bytes,
//! and the same bytes as a session token header.
#![no_main]

libfuzzer_sys::fuzz_target!(|header: &[u8]| {
    sessionly::__fuzz::cookie_header(header);
});
