//! `#[derive(SessionData)]`; see the `session` crate.
use proc_macro::TokenStream;

#[proc_macro_derive(SessionData, attributes(session))]
pub fn derive_session_data(_input: TokenStream) -> TokenStream {
    TokenStream::new()
}
