//! The derive's own view of its input: the struct, its fields and what their attributes say.
//!
//! Building it never fails as a whole: attribute mistakes are collected as they are met, and a
//! shape the derive cannot handle (an enum, a tuple struct, ...) is recorded in [`Shape`] for
//! `valid.rs` to report.

use proc_macro2::{Span, TokenStream, TokenTree};
use quote::{ToTokens as _, format_ident, quote};
use syn::ext::IdentExt as _;
use syn::{Data, DeriveInput, Fields, GenericParam, Generics, Ident, Path, Type, Visibility};

use crate::attr::{self, ContainerAttrs, FieldAttrs};
use crate::ctxt::Errors;

/// The struct `#[derive(SessionData)]` is applied to.
pub(crate) struct Input<'a> {
    pub ident: &'a Ident,
    pub vis: &'a Visibility,
    pub generics: &'a Generics,
    pub attrs: ContainerAttrs,
    pub shape: Shape,
    /// The named fields, in declaration order; empty unless `shape` is [`Shape::Named`].
    pub fields: Vec<Field<'a>>,
}

/// What kind of item the derive was applied to, with the span an error about it points at.
pub(crate) enum Shape {
    /// A struct with named fields: the only shape the derive accepts.
    Named,
    Enum(Span),
    Union(Span),
    Tuple(Span),
    Unit(Span),
}

/// One named field.
pub(crate) struct Field<'a> {
    /// The field's identifier as written, possibly raw (`r#type`).
    pub ident: &'a Ident,
    pub ty: &'a Type,
    pub attrs: FieldAttrs,
    /// The position among all fields, which is also the index of its dirty flag.
    pub index: usize,
    /// Whether the type names a type or const parameter of the struct, so that its trait
    /// bounds depend on the parameters and must be stated on the generated impls.
    pub generic: bool,
    /// The struct's `namespace`, which prefixes the stored name.
    pub namespace: Option<String>,
}

/// The names of a field's generated accessors.
pub(crate) struct Accessors {
    pub get: Ident,
    pub set: Ident,
    pub get_mut: Ident,
    pub take: Ident,
    pub reset: Ident,
    /// The private function returning the field's default.
    pub default: Ident,
    /// The private functions reaching the field's value, read-only and for changing it,
    /// wherever it is kept (its slot, or the gathered struct).
    pub value: Ident,
    pub value_mut: Ident,
    /// The private function decoding a stored field's bytes.
    pub decode: Ident,
    /// The private function returning a stored field's codec: the one place its type must be
    /// `SessionValue` and the struct's codec a `Codec`.
    pub codec: Ident,
}

impl<'a> Input<'a> {
    pub fn from_syn(input: &'a DeriveInput, errors: &mut Errors) -> Self {
        let attrs = attr::container(&input.attrs, errors);
        let namespace = attrs.namespace.as_ref().map(|ns| ns.value.value());
        let params: Vec<&Ident> = input
            .generics
            .params
            .iter()
            .filter_map(|param| match param {
                GenericParam::Type(param) => Some(&param.ident),
                GenericParam::Const(param) => Some(&param.ident),
                GenericParam::Lifetime(_) => None,
            })
            .collect();
        let (shape, fields) = match &input.data {
            Data::Struct(data) => match &data.fields {
                Fields::Named(named) => {
                    let fields = named
                        .named
                        .iter()
                        .enumerate()
                        .filter_map(|(index, field)| {
                            Some(Field {
                                ident: field.ident.as_ref()?,
                                ty: &field.ty,
                                attrs: attr::field(&field.attrs, errors),
                                index,
                                generic: mentions(field.ty.to_token_stream(), &params),
                                namespace: namespace.clone(),
                            })
                        })
                        .collect();
                    (Shape::Named, fields)
                }
                Fields::Unnamed(unnamed) => {
                    (Shape::Tuple(unnamed.paren_token.span.join()), Vec::new())
                }
                Fields::Unit => (Shape::Unit(input.ident.span()), Vec::new()),
            },
            Data::Enum(data) => (Shape::Enum(data.enum_token.span), Vec::new()),
            Data::Union(data) => (Shape::Union(data.union_token.span), Vec::new()),
        };
        Input {
            ident: &input.ident,
            vis: &input.vis,
            generics: &input.generics,
            attrs,
            shape,
            fields,
        }
    }

    /// The name of the generated tracked type: `<Struct>Tracked`.
    pub fn tracked_ident(&self) -> Ident {
        format_ident!("{}Tracked", self.ident.unraw(), span = self.ident.span())
    }

    /// The path of the runtime crate: `#[session(crate = ...)]`, else `::sessionly`.
    pub fn krate(&self) -> TokenStream {
        match &self.attrs.krate {
            Some(krate) => krate.value.to_token_stream(),
            None => quote!(::sessionly),
        }
    }

    /// The codec named by `#[session(codec = ...)]`, if any.
    pub fn codec(&self) -> Option<&Path> {
        self.attrs.codec.as_ref().map(|codec| &codec.value)
    }
}

impl Field<'_> {
    /// Whether the field is kept in the session store (it is not `#[session(skip)]`).
    pub fn is_stored(&self) -> bool {
        self.attrs.skip.is_none()
    }

    /// The name the field is stored under: its `rename`, or its identifier without `r#`,
    /// after `<namespace>/` if the struct has one.
    pub fn stored_name(&self) -> String {
        let name = match &self.attrs.rename {
            Some(rename) => rename.value.value(),
            None => self.ident.unraw().to_string(),
        };
        match &self.namespace {
            Some(namespace) => format!("{namespace}/{name}"),
            None => name,
        }
    }

    /// The function named by `#[session(default = ...)]`, if any.
    pub fn default_fn(&self) -> Option<&Path> {
        self.attrs.default.as_ref().map(|default| &default.value)
    }

    /// The names of the accessors generated for the field. The getter keeps the identifier as
    /// written (`r#type()`); the others are built from it without `r#` (`set_type()`).
    pub fn accessors(&self) -> Accessors {
        let span = self.ident.span();
        let name = self.ident.unraw();
        Accessors {
            get: self.ident.clone(),
            set: format_ident!("set_{}", name, span = span),
            get_mut: format_ident!("{}_mut", name, span = span),
            take: format_ident!("take_{}", name, span = span),
            reset: format_ident!("reset_{}", name, span = span),
            default: format_ident!("__session_default_{}", self.index),
            value: format_ident!("__session_value_{}", self.index),
            value_mut: format_ident!("__session_value_mut_{}", self.index),
            decode: format_ident!("__session_decode_{}", self.index),
            codec: format_ident!("__session_codec_{}", self.index),
        }
    }

    /// The field of the tracked type that keeps this field's value.
    pub fn slot(&self) -> Ident {
        format_ident!("slot_{}", self.index)
    }
}

impl Accessors {
    /// The accessors a user calls (all but the private default function).
    pub fn public(&self) -> [&Ident; 5] {
        [&self.get, &self.set, &self.get_mut, &self.take, &self.reset]
    }
}

/// Whether `tokens` contain one of the identifiers `params`, at any depth.
fn mentions(tokens: TokenStream, params: &[&Ident]) -> bool {
    tokens.into_iter().any(|token| match token {
        TokenTree::Ident(ident) => params.contains(&&ident),
        TokenTree::Group(group) => mentions(group.stream(), params),
        TokenTree::Punct(_) | TokenTree::Literal(_) => false,
    })
}
