//! The error collector every phase writes to: a misuse found while reading the input (`ast`,
//! `attr`) or while checking it (`valid`) is kept, and all of them are reported together, so
//! one compile shows every mistake. It sits below the three phases and imports none of them.

/// The errors found so far, in the order they were found.
#[derive(Default)]
pub(crate) struct Errors(Option<syn::Error>);

impl Errors {
    pub fn push(&mut self, error: syn::Error) {
        match &mut self.0 {
            Some(all) => all.combine(error),
            None => self.0 = Some(error),
        }
    }

    /// `Err` with every error collected, if there was any.
    pub fn finish(self) -> syn::Result<()> {
        self.0.map_or(Ok(()), Err)
    }
}
