//! Parsing of `#[session(...)]` attributes, on the struct and on its fields.
//!
//! Parsing only reads what is written: a key the derive does not know, a key given twice or a
//! value of the wrong form is reported here; whether the keys make sense together is decided
//! in `valid.rs`. Parsing carries on after an error where it can, so that one compile shows
//! every mistake.

use proc_macro2::{Span, TokenTree};
use syn::meta::ParseNestedMeta;
use syn::parse::ParseStream;
use syn::{Attribute, LitStr, Path, Token};

use crate::ctxt::Errors;

/// The keys accepted in a field's `#[session(...)]`, as the error messages spell them.
const FIELD_KEYS: &str =
    "`default = path::to::function`, `rename = \"stored_name\"`, `skip`, `flash`, `owner`";

/// The keys accepted in the struct's `#[session(...)]`, as the error messages spell them.
const CONTAINER_KEYS: &str =
    "`namespace = \"name\"`, `codec = path::To::Codec`, `crate = path::to::sessionly`";

/// An attribute value together with the span of the key that introduced it.
pub(crate) struct Keyed<T> {
    /// The span of the key (`rename`, `default`, ...), where errors about the key point.
    pub key: Span,
    pub value: T,
}

/// What a field's `#[session(...)]` attributes say.
#[derive(Default)]
pub(crate) struct FieldAttrs {
    /// `default = path`: the function giving the field's value when it is missing.
    pub default: Option<Keyed<Path>>,
    /// `rename = "name"`: the name the field is stored under.
    pub rename: Option<Keyed<LitStr>>,
    /// `skip`: the field is request-local and never stored (the span of the key).
    pub skip: Option<Span>,
    /// `flash`: the field is read once (the span of the key).
    pub flash: Option<Span>,
    /// `owner`: the field names who the session belongs to (the span of the key).
    pub owner: Option<Span>,
}

/// What the struct's `#[session(...)]` attributes say.
#[derive(Default)]
pub(crate) struct ContainerAttrs {
    /// `namespace = "name"`: the fields are stored as `name/<field>`.
    pub namespace: Option<Keyed<LitStr>>,
    /// `codec = path`: the codec of every field.
    pub codec: Option<Keyed<Path>>,
    /// `crate = path`: where the runtime crate is, when it is not `::sessionly` (a renamed
    /// dependency, or a re-export from another crate).
    pub krate: Option<Keyed<Path>>,
}

/// Reads the `#[session(...)]` attributes of a field; other attributes are left alone.
pub(crate) fn field(attrs: &[Attribute], errors: &mut Errors) -> FieldAttrs {
    let mut out = FieldAttrs::default();
    for attr in session_attrs(attrs) {
        let parsed = attr.parse_nested_meta(|meta| {
            let key = key_span(&meta);
            if meta.path.is_ident("default") {
                let path = path_value(&meta, "default", "`default = path::to::function`")?;
                set_once(&mut out.default, key, path, "default", "field", errors);
            } else if meta.path.is_ident("rename") {
                let name = string_value(&meta, "rename", "`rename = \"stored_name\"`")?;
                set_once(&mut out.rename, key, name, "rename", "field", errors);
            } else if meta.path.is_ident("skip") {
                flag(&meta, "skip")?;
                set_flag_once(&mut out.skip, key, "skip", errors);
            } else if meta.path.is_ident("flash") {
                flag(&meta, "flash")?;
                set_flag_once(&mut out.flash, key, "flash", errors);
            } else if meta.path.is_ident("owner") {
                flag(&meta, "owner")?;
                set_flag_once(&mut out.owner, key, "owner", errors);
            } else {
                let message = if meta.path.is_ident("codec") {
                    format!(
                        "`codec` is a struct attribute: put `#[session(codec = ...)]` on the struct; \
                         a field accepts {FIELD_KEYS}"
                    )
                } else {
                    format!(
                        "unknown session field attribute `{}`; expected one of {FIELD_KEYS}",
                        path_text(&meta.path)
                    )
                };
                errors.push(syn::Error::new_spanned(&meta.path, message));
                skip_value(meta.input)?;
            }
            Ok(())
        });
        if let Err(error) = parsed {
            errors.push(error);
        }
    }
    out
}

/// Reads the `#[session(...)]` attributes of the struct; other attributes are left alone.
pub(crate) fn container(attrs: &[Attribute], errors: &mut Errors) -> ContainerAttrs {
    let mut out = ContainerAttrs::default();
    for attr in session_attrs(attrs) {
        let parsed = attr.parse_nested_meta(|meta| {
            let key = key_span(&meta);
            if meta.path.is_ident("namespace") {
                let name = string_value(&meta, "namespace", "`namespace = \"name\"`")?;
                set_once(&mut out.namespace, key, name, "namespace", "struct", errors);
            } else if meta.path.is_ident("codec") {
                let path = path_value(&meta, "codec", "`codec = path::To::Codec`")?;
                set_once(&mut out.codec, key, path, "codec", "struct", errors);
            } else if meta.path.is_ident("crate") {
                let path = path_value(&meta, "crate", "`crate = path::to::sessionly`")?;
                set_once(&mut out.krate, key, path, "crate", "struct", errors);
            } else {
                let name = path_text(&meta.path);
                let message = if ["default", "rename", "skip", "flash", "owner"]
                    .contains(&name.as_str())
                {
                    format!(
                        "`{name}` is a field attribute: put it on a field; \
                         the struct accepts only {CONTAINER_KEYS}"
                    )
                } else {
                    format!("unknown session struct attribute `{name}`; expected {CONTAINER_KEYS}")
                };
                errors.push(syn::Error::new_spanned(&meta.path, message));
                skip_value(meta.input)?;
            }
            Ok(())
        });
        if let Err(error) = parsed {
            errors.push(error);
        }
    }
    out
}

fn session_attrs(attrs: &[Attribute]) -> impl Iterator<Item = &Attribute> {
    attrs.iter().filter(|attr| attr.path().is_ident("session"))
}

fn key_span(meta: &ParseNestedMeta) -> Span {
    meta.path
        .segments
        .first()
        .map_or_else(Span::call_site, |segment| segment.ident.span())
}

fn path_text(path: &Path) -> String {
    let segments: Vec<String> = path
        .segments
        .iter()
        .map(|segment| segment.ident.to_string())
        .collect();
    segments.join("::")
}

/// Stores the first value of a key; a second one is an error on its key.
fn set_once<T>(
    slot: &mut Option<Keyed<T>>,
    key: Span,
    value: T,
    name: &str,
    place: &str,
    errors: &mut Errors,
) {
    if slot.is_some() {
        errors.push(duplicate(key, name, place));
    } else {
        *slot = Some(Keyed { key, value });
    }
}

fn set_flag_once(slot: &mut Option<Span>, key: Span, name: &str, errors: &mut Errors) {
    if slot.is_some() {
        errors.push(duplicate(key, name, "field"));
    } else {
        *slot = Some(key);
    }
}

fn duplicate(key: Span, name: &str, place: &str) -> syn::Error {
    syn::Error::new(
        key,
        format!("duplicate session attribute `{name}` on this {place}; keep only one"),
    )
}

/// A key without a value: `skip`, `flash`, `owner`.
fn flag(meta: &ParseNestedMeta, name: &str) -> syn::Result<()> {
    if meta.input.is_empty() || meta.input.peek(Token![,]) {
        Ok(())
    } else {
        Err(meta.error(format_args!(
            "`{name}` takes no value: write `#[session({name})]`"
        )))
    }
}

/// `key = "string"`.
fn string_value(meta: &ParseNestedMeta, name: &str, form: &str) -> syn::Result<LitStr> {
    if !meta.input.peek(Token![=]) {
        return Err(meta.error(format_args!("`{name}` needs a value: {form}")));
    }
    let value = meta.value()?;
    if !value.peek(LitStr) {
        return Err(value.error(format_args!("`{name}` takes a string literal: {form}")));
    }
    value.parse()
}

/// `key = path` or `key = "path"`.
fn path_value(meta: &ParseNestedMeta, name: &str, form: &str) -> syn::Result<Path> {
    if !meta.input.peek(Token![=]) {
        return Err(meta.error(format_args!("`{name}` needs a value: {form}")));
    }
    let value = meta.value()?;
    let path = if value.peek(LitStr) {
        let lit: LitStr = value.parse()?;
        lit.parse::<Path>().map_err(|_| {
            syn::Error::new(lit.span(), format_args!("`{name}` takes a path: {form}"))
        })?
    } else if value.peek(Token![::])
        || value.peek(syn::Ident)
        || value.peek(Token![crate])
        || value.peek(Token![self])
        || value.peek(Token![super])
        || value.peek(Token![Self])
    {
        value.parse::<Path>()?
    } else {
        return Err(value.error(format_args!("`{name}` takes a path: {form}")));
    };
    if !(value.is_empty() || value.peek(Token![,])) {
        return Err(value.error(format_args!(
            "`{name}` takes a path alone, without `()` or arguments: {form}"
        )));
    }
    Ok(path)
}

/// Steps over the value of a key that was not understood, so the keys after it are still read.
fn skip_value(input: ParseStream) -> syn::Result<()> {
    while !(input.is_empty() || input.peek(Token![,])) {
        input.parse::<TokenTree>()?;
    }
    Ok(())
}
