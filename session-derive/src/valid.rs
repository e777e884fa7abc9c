//! Every misuse of the derive becomes a `syn::Error` here, pointing at the token to change.
//!
//! Checks never stop at the first problem: all errors are collected in [`Errors`](crate::ctxt::Errors) and
//! reported together, so one compile shows every mistake.

use std::collections::HashMap;

use syn::{GenericArgument, Ident, PathArguments, Type};

use crate::ast::{Field, Input, Shape};
use crate::ctxt::Errors;

/// The methods of the runtime's extractor `sessionly::TypedSession<T>`.
///
/// `TypedSession<T>` dereferences to the generated tracked type, and an inherent method of
/// `TypedSession` wins over a method reached through `Deref`. A generated accessor with one of
/// these names would compile but could never be called on the extractor, so a field whose
/// accessors would take one of them is rejected. Keep this list equal to the `pub fn`s of
/// `TypedSession` (`session/src/request/extract.rs` and `detach.rs`).
pub(crate) const RESERVED_METHODS: &[&str] = &[
    "id",
    "regenerate",
    "destroy",
    "reload",
    "save",
    "touch",
    "max_age",
    "original_max_age",
    "set_max_age",
    "expires",
    "set_expires",
    "unset",
    "data",
    "cookie_overrides",
    "set_cookie_overrides",
    "created",
    "absolute_expiry",
    "set_absolute_lifetime",
    "owner_sessions",
    "destroy_other_sessions",
    "destroy_all_sessions",
    "is_new",
    "cycle_id",
    "detach",
    "session_token",
];

/// Checks what the attributes could not check on their own: the shape of the item, how the
/// attributes of a field combine, and whether the fields' names clash.
pub(crate) fn check(input: &Input, errors: &mut Errors) {
    check_shape(input, errors);
    check_namespace(input, errors);
    for field in &input.fields {
        check_field(field, errors);
    }
    check_stored_names(&input.fields, errors);
    check_accessor_names(&input.fields, errors);
    check_one_owner(&input.fields, errors);
}

/// A namespace is stored as the start of every field's name, in every store (Redis hash fields,
/// SQL JSON keys): a short plain word, so that it reads the same everywhere.
fn check_namespace(input: &Input, errors: &mut Errors) {
    let Some(namespace) = &input.attrs.namespace else {
        return;
    };
    let text = namespace.value.value();
    let plain = |c: char| c.is_ascii_alphanumeric() || c == '_' || c == '-';
    if text.is_empty() || !text.chars().all(plain) {
        errors.push(syn::Error::new(
            namespace.value.span(),
            "a namespace is one or more ASCII letters, digits, `_` or `-`, \
             e.g. `namespace = \"auth\"`",
        ));
    }
}

fn check_shape(input: &Input, errors: &mut Errors) {
    let (span, message) = match input.shape {
        Shape::Named => return,
        Shape::Enum(span) => (
            span,
            "SessionData cannot be derived for an enum; derive it for a struct with named fields \
             (one per session value), e.g. `struct Account { user_id: Option<u64> }`",
        ),
        Shape::Union(span) => (
            span,
            "SessionData cannot be derived for a union; derive it for a struct with named fields \
             (one per session value), e.g. `struct Account { user_id: Option<u64> }`",
        ),
        Shape::Tuple(span) => (
            span,
            "SessionData cannot be derived for a tuple struct: every session field is stored \
             under its name; use named fields, e.g. `struct Account { user_id: Option<u64> }`",
        ),
        Shape::Unit(span) => (
            span,
            "SessionData cannot be derived for a unit struct: it has no fields to store; use \
             named fields, e.g. `struct Account { user_id: Option<u64> }`",
        ),
    };
    errors.push(syn::Error::new(span, message));
}

fn check_field(field: &Field, errors: &mut Errors) {
    let attrs = &field.attrs;
    if attrs.skip.is_some() {
        if let Some(rename) = &attrs.rename {
            errors.push(syn::Error::new(
                rename.key,
                "`rename` has no effect on a `#[session(skip)]` field, which is never stored; \
                 remove `rename`, or remove `skip` to store the field",
            ));
        }
        if let Some(flash) = attrs.flash {
            errors.push(syn::Error::new(
                flash,
                "`flash` has no effect on a `#[session(skip)]` field, which is never stored; \
                 remove `flash`, or remove `skip` to store the field",
            ));
        }
        if let Some(owner) = attrs.owner {
            errors.push(syn::Error::new(
                owner,
                "an `owner` field must be stored, so the store can index the session by it; \
                 remove `skip`",
            ));
        }
    }
    if let (Some(owner), Some(_)) = (attrs.owner, attrs.flash) {
        errors.push(syn::Error::new(
            owner,
            "a field cannot be both `flash` and `owner`: reading a flash field once clears it, \
             and with it the session's owner; mark a separate field `owner`",
        ));
    }
    if attrs.owner.is_some() && !is_option(field.ty) {
        errors.push(syn::Error::new_spanned(
            field.ty,
            "a `#[session(owner)]` field must be an `Option<_>` (`None`: nobody is signed in), \
             e.g. `user_id: Option<u64>`; wrap the type in `Option<...>`",
        ));
    }
    if let Some(rename) = &attrs.rename
        && rename.value.value().is_empty()
    {
        errors.push(syn::Error::new(
            rename.value.span(),
            "the stored name of a field cannot be empty; write the name to store it under, \
             e.g. `rename = \"user\"`",
        ));
    }
    if let Some(rename) = &attrs.rename
        && rename.value.value().contains('/')
    {
        errors.push(syn::Error::new(
            rename.value.span(),
            "a stored name cannot contain `/`, which separates a namespace from a field's \
             name; to store a struct's fields apart from others', use \
             `#[session(namespace = \"...\")]` on the struct",
        ));
    }
    if attrs.flash.is_some() && !is_option(field.ty) {
        errors.push(syn::Error::new_spanned(
            field.ty,
            "a `#[session(flash)]` field must be an `Option<_>`: taking its value (the read-once \
             read) leaves `None`; wrap the type in `Option<...>`",
        ));
    }
}

/// A session has at most one owner.
fn check_one_owner(fields: &[Field], errors: &mut Errors) {
    let mut owners = fields
        .iter()
        .filter_map(|field| Some((field.ident, field.attrs.owner?)));
    let Some((first, _)) = owners.next() else {
        return;
    };
    for (_, key) in owners {
        errors.push(syn::Error::new(
            key,
            format!(
                "only one field can be the session's `owner`, and `{}` already is; remove one \
                 of the `owner` attributes",
                first.unraw_text()
            ),
        ));
    }
}

/// Whether `ty` is written as `Option<_>`, `std::option::Option<_>` or
/// `core::option::Option<_>` (with or without a leading `::`).
fn is_option(ty: &Type) -> bool {
    let ty = match ty {
        Type::Group(group) => return is_option(&group.elem),
        Type::Paren(paren) => return is_option(&paren.elem),
        Type::Path(path) if path.qself.is_none() => path,
        _ => return false,
    };
    let path = &ty.path;
    let names: Vec<String> = path
        .segments
        .iter()
        .map(|segment| segment.ident.to_string())
        .collect();
    let names: Vec<&str> = names.iter().map(String::as_str).collect();
    let known = match names.as_slice() {
        ["Option"] => path.leading_colon.is_none(),
        ["std" | "core", "option", "Option"] => true,
        _ => false,
    };
    let prefix_plain = path
        .segments
        .iter()
        .take(path.segments.len().saturating_sub(1))
        .all(|segment| matches!(segment.arguments, PathArguments::None));
    let one_type_argument = path.segments.last().is_some_and(|last| {
        matches!(
            &last.arguments,
            PathArguments::AngleBracketed(args)
                if args.args.len() == 1 && matches!(args.args[0], GenericArgument::Type(_))
        )
    });
    known && prefix_plain && one_type_argument
}

/// Two stored fields may not share a stored name: the second would overwrite the first.
fn check_stored_names(fields: &[Field], errors: &mut Errors) {
    let mut seen: HashMap<String, &Ident> = HashMap::new();
    for field in fields.iter().filter(|field| field.is_stored()) {
        let name = field.stored_name();
        match seen.get(name.as_str()) {
            Some(first) => {
                let message = format!(
                    "field `{}` is stored under the name \"{name}\", which field `{}` already \
                     uses; give one of them another stored name with \
                     `#[session(rename = \"...\")]`",
                    field.ident.unraw_text(),
                    first.unraw_text(),
                );
                let error = match &field.attrs.rename {
                    Some(rename) => syn::Error::new(rename.value.span(), message),
                    None => syn::Error::new(field.ident.span(), message),
                };
                errors.push(error);
            }
            None => {
                seen.insert(name, field.ident);
            }
        }
    }
}

/// An accessor must be reachable from `TypedSession`, and two fields may not generate the same
/// accessor.
fn check_accessor_names(fields: &[Field], errors: &mut Errors) {
    let mut taken: HashMap<String, &Ident> = HashMap::new();
    for field in fields {
        let accessors = field.accessors();
        let names: Vec<String> = accessors
            .public()
            .iter()
            .map(|accessor| accessor.unraw_text())
            .collect();
        let field_name = field.ident.unraw_text();

        let reserved: Vec<String> = names
            .iter()
            .filter(|name| RESERVED_METHODS.contains(&name.as_str()))
            .map(|name| format!("`{name}()`"))
            .collect();
        if !reserved.is_empty() {
            let keep_stored_name = if !field.is_stored() {
                String::new()
            } else if field.attrs.rename.is_some() {
                "; its `rename` keeps the stored name".to_owned()
            } else {
                format!(", and keep the stored name with `#[session(rename = \"{field_name}\")]`")
            };
            let (accessor, method) = if reserved.len() == 1 {
                ("accessor", "a method of that name, which hides it")
            } else {
                ("accessors", "methods of those names, which hide them")
            };
            errors.push(syn::Error::new(
                field.ident.span(),
                format!(
                    "field `{field_name}` would generate the {accessor} {}, but `TypedSession` \
                     has {method}; rename the Rust field, e.g. to `{field_name}_value`\
                     {keep_stored_name}",
                    reserved.join(" and "),
                ),
            ));
        }

        let clash = names
            .iter()
            .find_map(|name| taken.get(name).map(|other| (name, *other)));
        if let Some((name, other)) = clash {
            errors.push(syn::Error::new(
                field.ident.span(),
                format!(
                    "field `{field_name}` would generate the accessor `{name}()`, which field \
                     `{}` generates too; rename one of the two fields",
                    other.unraw_text(),
                ),
            ));
        }
        for name in names {
            taken.entry(name).or_insert(field.ident);
        }
    }
}

/// An identifier's text without `r#`.
trait UnrawText {
    fn unraw_text(&self) -> String;
}

impl UnrawText for Ident {
    fn unraw_text(&self) -> String {
        syn::ext::IdentExt::unraw(self).to_string()
    }
}

#[cfg(test)]
mod tests {
    use super::is_option;

    #[test]
    fn option_is_recognised_by_its_usual_spellings_only() {
        let yes: [syn::Type; 5] = [
            syn::parse_quote!(Option<String>),
            syn::parse_quote!(std::option::Option<u8>),
            syn::parse_quote!(core::option::Option<Vec<u8>>),
            syn::parse_quote!(::core::option::Option<()>),
            syn::parse_quote!((Option<u8>)),
        ];
        let no: [syn::Type; 6] = [
            syn::parse_quote!(String),
            syn::parse_quote!(Vec<Option<u8>>),
            syn::parse_quote!(::Option<u8>),
            syn::parse_quote!(my::Option<u8>),
            syn::parse_quote!(Option),
            syn::parse_quote!(<T as Trait>::Option<u8>),
        ];
        for ty in &yes {
            assert!(is_option(ty), "{}", quote::quote!(#ty));
        }
        for ty in &no {
            assert!(!is_option(ty), "{}", quote::quote!(#ty));
        }
    }
}
