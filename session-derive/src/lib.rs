//! `#[derive(SessionData)]` for the `sessionly` crate; use it through `sessionly::SessionData`.
//!
//! For a struct `S` with named fields the derive generates `STracked`, which owns the data and
//! one dirty flag per field, implements `sessionly::SessionData` for `S`, and gives every field
//! `f` the accessors `f()`, `set_f(..)`, `f_mut()`, `take_f()` and `reset_f()`.
//!
//! Field attributes: `#[session(default = path)]`, `#[session(rename = "stored_name")]`,
//! `#[session(skip)]`, `#[session(flash)]`, `#[session(owner)]`. Struct attributes:
//! `#[session(codec = path)]`, `#[session(crate = path)]` (where the runtime crate is when
//! it is not `::sessionly`: a renamed dependency, a re-export).
//!
//! The derive works in three steps: `ast` reads the input (with `attr` for the attributes),
//! `valid` turns every misuse into an error on the offending token, and `expand` writes the code.
//! Errors from every phase are collected in `ctxt`.

mod ast;
mod attr;
mod ctxt;
mod expand;
mod valid;

use proc_macro::TokenStream;

/// Derives `sessionly::SessionData`; see the `sessionly` crate for the attributes and accessors.
#[proc_macro_derive(SessionData, attributes(session))]
pub fn derive_session_data(input: TokenStream) -> TokenStream {
    let input = syn::parse_macro_input!(input as syn::DeriveInput);
    let mut errors = ctxt::Errors::default();
    let input = ast::Input::from_syn(&input, &mut errors);
    valid::check(&input, &mut errors);
    match errors.finish() {
        Ok(()) => expand::derive(&input),
        Err(errors) => errors.to_compile_error(),
    }
    .into()
}
