//! Compile-fail tests for `#[derive(SessionData)]` (and for a store declaring a capability it
//! does not implement): every misuse has a case in `ui/` whose
//! expected compiler output is the `.stderr` file beside it.

#[test]
fn ui() {
    let cases = trybuild::TestCases::new();
    cases.pass("ui/pass/*.rs");
    cases.compile_fail("ui/fail/*.rs");
}
