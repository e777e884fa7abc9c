//! The shape of a *type*, traced once from its `Deserialize` and kept: what lets
//! [`Postcard`](crate::Postcard) check a large field with one comparison instead of walking the
//! decoded value (the value's shape, `super`, costs a hash step per element of a collection).
//!
//! Postcard has no type information of its own: the calls a type's `Deserialize` makes on the
//! deserializer decide how its bytes are read. So this module plays a deserializer that answers
//! each call with a placeholder value and writes down the call instead: the primitive's encoding
//! class, struct fields by name, tuples by length, and for `Option`, sequences, maps and enums a
//! node of their own. Two types that make the same calls read the same bytes the same way. The
//! digest is taken over every node, numbered in the order the type reaches them, so it is the
//! same from one build, machine or run to the next.
//!
//! Exploring a type takes several passes of its `Deserialize`: each enum takes one variant per
//! pass, until every variant of every enum reached is written down. A recursive type stops at
//! its second `Option`, sequence, map or enum of one type within a pass (`None`, empty, a
//! variant known to hold none of these, or else the next variant). A type this cannot trace
//! has no type digest, and its fields keep the value's digest alone: one that asks the
//! deserializer what comes next (`deserialize_any`: an untagged enum, `serde_json::Value`, a
//! flattened struct), one that rejects the placeholders (numbers are 1, strings are empty, so
//! a type that checks its string's contents), one that needs more than 4,096 passes or nests
//! deeper than 128 levels.
//!
//! What the type's calls cannot show: a hand-written `Deserialize` that reads a tag of its own
//! and picks what to read next by its value (rather than through an enum). Only the branch the
//! placeholder picks is written down, so a change to another branch's type would not change
//! the digest. Serde's derives and the standard library's types do not do that; a schema holding such a type should use the `Json` codec, or keep the type's
//! values small (under 256 bytes, the value's digest is used).

use std::any::TypeId;
use std::collections::HashMap;
use std::fmt;
use std::sync::{OnceLock, RwLock};

use serde::de::value::U32Deserializer;
use serde::de::{
    self, DeserializeOwned, DeserializeSeed, EnumAccess, IntoDeserializer, MapAccess, SeqAccess,
    VariantAccess, Visitor,
};

use super::{Shape, token};

/// The type digest of `T`, traced on the first call for each type and kept for the process;
/// `None` for a type that cannot be traced (see the module's documentation).
pub(crate) fn type_digest<T: DeserializeOwned>() -> Option<u32> {
    static DIGESTS: OnceLock<RwLock<HashMap<TypeId, Option<u32>>>> = OnceLock::new();
    let digests = DIGESTS.get_or_init(Default::default);
    let id = typeid::of::<T>();
    // A poisoned lock only means another thread panicked while tracing: the map is intact.
    if let Some(known) = digests
        .read()
        .unwrap_or_else(|poisoned| poisoned.into_inner())
        .get(&id)
    {
        return *known;
    }
    let digest = trace::<T>();
    digests
        .write()
        .unwrap_or_else(|poisoned| poisoned.into_inner())
        .insert(id, digest);
    digest
}

const MAX_PASSES: usize = 4096;
const MAX_DEPTH: usize = 128;

/// Traces `T` without the cache.
pub(crate) fn trace<T: DeserializeOwned>() -> Option<u32> {
    let mut tracer = Tracer::default();
    for _ in 0..MAX_PASSES {
        tracer.claimed.clear();
        tracer.cuts.clear();
        let mut root = Format::Unknown;
        T::deserialize(Tracing {
            tracer: &mut tracer,
            slot: &mut root,
            depth: 0,
        })
        .ok()?;
        if !tracer.next_pass() {
            return tracer.digest(&root);
        }
    }
    None
}

/// How a part of a type is read. `Option`s, sequences, maps and enums are nodes of their own,
/// known by the type of the visitor that reads them (which names the `Deserialize` impl and
/// its type parameters): that is how a recursive type's description stays finite.
#[derive(Debug, Clone, PartialEq)]
enum Format {
    /// Not reached: a placeholder that a finished trace never keeps.
    Unknown,
    Primitive(u8),
    /// A tuple, a tuple struct or an array: its elements in order.
    Tuple(Vec<Format>),
    /// A struct: its fields in order, by name (postcard writes them by position).
    Struct(Vec<(&'static str, Format)>),
    Node(TypeId),
}

impl Format {
    /// Whether this reaches no node: reading it cannot recurse.
    fn is_leaf(&self) -> bool {
        match self {
            Format::Unknown | Format::Node(_) => false,
            Format::Primitive(_) => true,
            Format::Tuple(elements) => elements.iter().all(Format::is_leaf),
            Format::Struct(fields) => fields.iter().all(|(_, field)| field.is_leaf()),
        }
    }
}

#[derive(Debug, PartialEq)]
enum Node {
    Option(Format),
    Seq(Format),
    Map(Format, Format),
    Enum {
        names: &'static [&'static str],
        variants: Vec<Option<Format>>,
        /// The variant the next pass takes on this enum's first encounter.
        next: usize,
    },
}

#[derive(Default)]
struct Tracer {
    nodes: HashMap<TypeId, Node>,
    /// The node types met in the current pass; a second meeting in one pass is cut short.
    claimed: Vec<TypeId>,
    /// For each enum met more than once in the current pass, the variant its last cut took.
    cuts: HashMap<TypeId, usize>,
    /// A node read one way in one place and another way elsewhere: not a type this describes.
    inconsistent: bool,
}

impl Tracer {
    /// Picks each enum's variant for the next pass; `false` once every enum reached has every
    /// variant written down.
    fn next_pass(&mut self) -> bool {
        let incomplete = self.nodes.values().any(|node| {
            matches!(node, Node::Enum { variants, .. } if variants.iter().any(Option::is_none))
        });
        if !incomplete {
            return false;
        }
        for (id, node) in &mut self.nodes {
            // Only an enum this pass reached moves on: one reached only inside a variant of
            // another then takes its next variant each time it is reached, whatever the
            // lengths of the enums around it, so every variant of every enum is reached.
            if !self.claimed.contains(id) {
                continue;
            }
            if let Node::Enum { variants, next, .. } = node {
                // The next variant not written down; once all are, keep cycling through them, so
                // that an enum reached only inside one of them is reached again.
                let len = variants.len();
                *next = (1..=len)
                    .map(|step| (*next + step) % len)
                    .find(|&index| variants[index].is_none())
                    .unwrap_or((*next + 1) % len);
            }
        }
        true
    }

    /// Writes down node `id` (an `Option`, sequence or map), which must read the same wherever
    /// it is met.
    fn record(&mut self, id: TypeId, node: Node) {
        if let Some(known) = self.nodes.insert(id, node)
            && self.nodes.get(&id) != Some(&known)
        {
            self.inconsistent = true;
        }
    }

    /// Claims node `id` for this pass: `true` the first time.
    fn claim(&mut self, id: TypeId) -> bool {
        if self.claimed.contains(&id) {
            return false;
        }
        self.claimed.push(id);
        true
    }

    /// The digest of the traced type: its root, then each node in the order first reached.
    fn digest(&self, root: &Format) -> Option<u32> {
        if self.inconsistent {
            return None;
        }
        let mut shape = Shape::new();
        // Apart from any value's shape.
        shape.u64(u64::from_le_bytes(*b"typeshp1"));
        let mut order: Vec<TypeId> = Vec::new();
        self.format(&mut shape, root, &mut order)?;
        let mut at = 0;
        while let Some(&id) = order.get(at) {
            at += 1;
            shape.u64(at as u64);
            match self.nodes.get(&id)? {
                Node::Option(inner) => {
                    shape.byte(token::SOME);
                    self.format(&mut shape, inner, &mut order)?;
                }
                Node::Seq(element) => {
                    shape.byte(token::SEQ);
                    self.format(&mut shape, element, &mut order)?;
                }
                Node::Map(key, value) => {
                    shape.byte(token::MAP);
                    self.format(&mut shape, key, &mut order)?;
                    self.format(&mut shape, value, &mut order)?;
                }
                Node::Enum {
                    names, variants, ..
                } => {
                    shape.byte(token::VARIANT);
                    shape.u64(names.len() as u64);
                    for (name, variant) in names.iter().zip(variants) {
                        shape.name(name);
                        self.format(&mut shape, variant.as_ref()?, &mut order)?;
                    }
                }
            }
            shape.byte(token::END);
        }
        Some(shape.finish())
    }

    fn format(&self, shape: &mut Shape, format: &Format, order: &mut Vec<TypeId>) -> Option<()> {
        match format {
            Format::Unknown => return None,
            Format::Primitive(primitive) => shape.byte(*primitive),
            Format::Tuple(elements) => {
                shape.byte(token::TUPLE);
                shape.u64(elements.len() as u64);
                for element in elements {
                    self.format(shape, element, order)?;
                }
                shape.byte(token::END);
            }
            Format::Struct(fields) => {
                shape.byte(token::STRUCT);
                for (name, field) in fields {
                    shape.byte(token::FIELD);
                    shape.name(name);
                    self.format(shape, field, order)?;
                }
                shape.byte(token::END);
            }
            Format::Node(id) => {
                let number = match order.iter().position(|known| known == id) {
                    Some(index) => index,
                    None => {
                        order.push(*id);
                        order.len() - 1
                    }
                };
                shape.byte(REF);
                shape.u64(number as u64 + 1);
            }
        }
        Some(())
    }
}

/// A reference to a node, by its number; beside the value shape's tokens.
const REF: u8 = 21;

/// Why a type could not be traced.
#[derive(Debug)]
struct Untraceable(String);

impl fmt::Display for Untraceable {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for Untraceable {}

impl de::Error for Untraceable {
    fn custom<T: fmt::Display>(msg: T) -> Self {
        Self(msg.to_string())
    }
}

/// The deserializer that traces: what it is asked for goes into `slot`.
struct Tracing<'a> {
    tracer: &'a mut Tracer,
    slot: &'a mut Format,
    depth: usize,
}

impl<'a> Tracing<'a> {
    fn primitive(self, token: u8) -> Result<(), Untraceable> {
        *self.slot = Format::Primitive(token);
        Ok(())
    }

    fn deeper(
        tracer: &'a mut Tracer,
        slot: &'a mut Format,
        depth: usize,
    ) -> Result<Self, Untraceable> {
        if depth >= MAX_DEPTH {
            return Err(Untraceable("nested too deep".into()));
        }
        Ok(Self {
            tracer,
            slot,
            depth: depth + 1,
        })
    }
}

macro_rules! primitives {
    ($($method:ident => $token:expr, $visit:ident($value:expr);)*) => {
        $(
            fn $method<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, Untraceable> {
                self.primitive($token)?;
                visitor.$visit($value)
            }
        )*
    };
}

impl<'de> de::Deserializer<'de> for Tracing<'_> {
    type Error = Untraceable;

    primitives! {
        deserialize_bool => token::BOOL, visit_bool(false);
        deserialize_i8 => token::I8, visit_i8(1);
        deserialize_i16 => token::IVARINT, visit_i16(1);
        deserialize_i32 => token::IVARINT, visit_i32(1);
        deserialize_i64 => token::IVARINT, visit_i64(1);
        deserialize_i128 => token::IVARINT, visit_i128(1);
        deserialize_u8 => token::U8, visit_u8(1);
        deserialize_u16 => token::UVARINT, visit_u16(1);
        deserialize_u32 => token::UVARINT, visit_u32(1);
        deserialize_u64 => token::UVARINT, visit_u64(1);
        deserialize_u128 => token::UVARINT, visit_u128(1);
        deserialize_f32 => token::F32, visit_f32(0.0);
        deserialize_f64 => token::F64, visit_f64(0.0);
        deserialize_char => token::CHAR, visit_char('a');
        deserialize_str => token::STR, visit_str("");
        deserialize_string => token::STR, visit_string(String::new());
        deserialize_bytes => token::BYTES, visit_bytes(&[]);
        deserialize_byte_buf => token::BYTES, visit_byte_buf(Vec::new());
    }

    fn deserialize_unit<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, Untraceable> {
        self.primitive(token::UNIT)?;
        visitor.visit_unit()
    }

    fn deserialize_any<V: Visitor<'de>>(self, _: V) -> Result<V::Value, Untraceable> {
        Err(Untraceable("the type asks what comes next".into()))
    }

    fn deserialize_ignored_any<V: Visitor<'de>>(self, _: V) -> Result<V::Value, Untraceable> {
        Err(Untraceable("the type skips a value".into()))
    }

    fn deserialize_identifier<V: Visitor<'de>>(self, _: V) -> Result<V::Value, Untraceable> {
        Err(Untraceable("an identifier outside an enum".into()))
    }

    fn deserialize_unit_struct<V: Visitor<'de>>(
        self,
        _: &'static str,
        visitor: V,
    ) -> Result<V::Value, Untraceable> {
        self.primitive(token::UNIT)?;
        visitor.visit_unit()
    }

    fn deserialize_newtype_struct<V: Visitor<'de>>(
        self,
        _: &'static str,
        visitor: V,
    ) -> Result<V::Value, Untraceable> {
        // Transparent, as in postcard's bytes.
        visitor.visit_newtype_struct(self)
    }

    fn deserialize_option<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, Untraceable> {
        let id = typeid::of::<V>();
        *self.slot = Format::Node(id);
        if !self.tracer.claim(id) {
            return visitor.visit_none();
        }
        let mut inner = Format::Unknown;
        let value = visitor.visit_some(Tracing::deeper(self.tracer, &mut inner, self.depth)?)?;
        self.tracer.record(id, Node::Option(inner));
        Ok(value)
    }

    fn deserialize_seq<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, Untraceable> {
        let id = typeid::of::<V>();
        *self.slot = Format::Node(id);
        let first = self.tracer.claim(id);
        let mut element = Format::Unknown;
        let value = visitor.visit_seq(Elements {
            tracer: self.tracer,
            slots: if first {
                vec![&mut element]
            } else {
                Vec::new()
            }
            .into_iter(),
            depth: self.depth,
        })?;
        if first {
            self.tracer.record(id, Node::Seq(element));
        }
        Ok(value)
    }

    fn deserialize_tuple<V: Visitor<'de>>(
        self,
        len: usize,
        visitor: V,
    ) -> Result<V::Value, Untraceable> {
        let mut elements = vec![Format::Unknown; len];
        let value = visitor.visit_seq(Elements {
            tracer: self.tracer,
            slots: elements.iter_mut().collect::<Vec<_>>().into_iter(),
            depth: self.depth,
        })?;
        *self.slot = Format::Tuple(elements);
        Ok(value)
    }

    fn deserialize_tuple_struct<V: Visitor<'de>>(
        self,
        _: &'static str,
        len: usize,
        visitor: V,
    ) -> Result<V::Value, Untraceable> {
        self.deserialize_tuple(len, visitor)
    }

    fn deserialize_map<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, Untraceable> {
        let id = typeid::of::<V>();
        *self.slot = Format::Node(id);
        let first = self.tracer.claim(id);
        let (mut key, mut entry) = (Format::Unknown, Format::Unknown);
        let value = visitor.visit_map(Entries {
            tracer: self.tracer,
            slots: first.then_some((&mut key, &mut entry)),
            value: None,
            depth: self.depth,
        })?;
        if first {
            self.tracer.record(id, Node::Map(key, entry));
        }
        Ok(value)
    }

    fn deserialize_struct<V: Visitor<'de>>(
        self,
        _: &'static str,
        fields: &'static [&'static str],
        visitor: V,
    ) -> Result<V::Value, Untraceable> {
        let mut formats = vec![Format::Unknown; fields.len()];
        let value = visitor.visit_seq(Elements {
            tracer: self.tracer,
            slots: formats.iter_mut().collect::<Vec<_>>().into_iter(),
            depth: self.depth,
        })?;
        *self.slot = Format::Struct(fields.iter().copied().zip(formats).collect());
        Ok(value)
    }

    fn deserialize_enum<V: Visitor<'de>>(
        self,
        _: &'static str,
        names: &'static [&'static str],
        visitor: V,
    ) -> Result<V::Value, Untraceable> {
        if names.is_empty() {
            return Err(Untraceable("an enum without variants".into()));
        }
        let id = typeid::of::<V>();
        *self.slot = Format::Node(id);
        let first = self.tracer.claim(id);
        let Node::Enum { variants, next, .. } =
            self.tracer.nodes.entry(id).or_insert_with(|| Node::Enum {
                names,
                variants: vec![None; names.len()],
                next: 0,
            })
        else {
            return Err(Untraceable("an enum that is also another node".into()));
        };
        let index = if first {
            *next
        } else {
            // Met again within a pass (a recursive enum): a variant known to hold no node,
            // which ends the recursion; until one is known, each meeting tries the variant
            // after the last one tried, so a recursion through variant 0 still ends.
            let cuts = self.tracer.cuts.entry(id).or_insert(*next);
            *cuts = (*cuts + 1) % names.len();
            variants
                .iter()
                .position(|variant| variant.as_ref().is_some_and(Format::is_leaf))
                .unwrap_or(*cuts)
        };
        let mut format = Format::Unknown;
        let value = visitor.visit_enum(Variant {
            tracer: self.tracer,
            index,
            slot: &mut format,
            depth: self.depth,
        })?;
        if let Some(Node::Enum { variants, .. }) = self.tracer.nodes.get_mut(&id)
            && format != Format::Unknown
        {
            match &variants[index] {
                Some(known) if *known != format => self.tracer.inconsistent = true,
                _ => variants[index] = Some(format),
            }
        }
        Ok(value)
    }

    fn is_human_readable(&self) -> bool {
        // As postcard: types that read differently for humans pick the same form here.
        false
    }
}

/// A sequence, tuple or struct of the given element slots.
struct Elements<'a, I> {
    tracer: &'a mut Tracer,
    slots: I,
    depth: usize,
}

impl<'de, 'a, I: Iterator<Item = &'a mut Format>> SeqAccess<'de> for Elements<'_, I> {
    type Error = Untraceable;

    fn next_element_seed<T: DeserializeSeed<'de>>(
        &mut self,
        seed: T,
    ) -> Result<Option<T::Value>, Untraceable> {
        let Some(slot) = self.slots.next() else {
            return Ok(None);
        };
        seed.deserialize(Tracing::deeper(self.tracer, slot, self.depth)?)
            .map(Some)
    }

    fn size_hint(&self) -> Option<usize> {
        Some(self.slots.size_hint().0)
    }
}

/// A map of one entry (its key and value slots) or none.
struct Entries<'a> {
    tracer: &'a mut Tracer,
    slots: Option<(&'a mut Format, &'a mut Format)>,
    value: Option<&'a mut Format>,
    depth: usize,
}

impl<'de> MapAccess<'de> for Entries<'_> {
    type Error = Untraceable;

    fn next_key_seed<K: DeserializeSeed<'de>>(
        &mut self,
        seed: K,
    ) -> Result<Option<K::Value>, Untraceable> {
        let Some((key, value)) = self.slots.take() else {
            return Ok(None);
        };
        self.value = Some(value);
        seed.deserialize(Tracing::deeper(self.tracer, key, self.depth)?)
            .map(Some)
    }

    fn next_value_seed<V: DeserializeSeed<'de>>(
        &mut self,
        seed: V,
    ) -> Result<V::Value, Untraceable> {
        let slot = self
            .value
            .take()
            .ok_or_else(|| Untraceable("a map value without its key".into()))?;
        seed.deserialize(Tracing::deeper(self.tracer, slot, self.depth)?)
    }
}

/// The variant `index` of an enum, its content traced into `slot`.
struct Variant<'a> {
    tracer: &'a mut Tracer,
    index: usize,
    slot: &'a mut Format,
    depth: usize,
}

impl<'de, 'a> EnumAccess<'de> for Variant<'a> {
    type Error = Untraceable;
    type Variant = Self;

    fn variant_seed<S: DeserializeSeed<'de>>(
        self,
        seed: S,
    ) -> Result<(S::Value, Self), Untraceable> {
        let index = u32::try_from(self.index)
            .map_err(|_| Untraceable("an enum of more than 2^32 variants".into()))?;
        let deserializer: U32Deserializer<Untraceable> = index.into_deserializer();
        Ok((seed.deserialize(deserializer)?, self))
    }
}

impl<'de> VariantAccess<'de> for Variant<'_> {
    type Error = Untraceable;

    fn unit_variant(self) -> Result<(), Untraceable> {
        *self.slot = Format::Primitive(token::UNIT);
        Ok(())
    }

    fn newtype_variant_seed<T: DeserializeSeed<'de>>(
        self,
        seed: T,
    ) -> Result<T::Value, Untraceable> {
        // As a tuple variant of one element, which postcard reads the same way.
        let mut inner = Format::Unknown;
        let value = seed.deserialize(Tracing::deeper(self.tracer, &mut inner, self.depth)?)?;
        *self.slot = Format::Tuple(vec![inner]);
        Ok(value)
    }

    fn tuple_variant<V: Visitor<'de>>(
        self,
        len: usize,
        visitor: V,
    ) -> Result<V::Value, Untraceable> {
        let tracing = Tracing {
            tracer: self.tracer,
            slot: self.slot,
            depth: self.depth,
        };
        de::Deserializer::deserialize_tuple(tracing, len, visitor)
    }

    fn struct_variant<V: Visitor<'de>>(
        self,
        fields: &'static [&'static str],
        visitor: V,
    ) -> Result<V::Value, Untraceable> {
        de::Deserializer::deserialize_struct(
            Tracing {
                tracer: self.tracer,
                slot: self.slot,
                depth: self.depth,
            },
            "",
            fields,
            visitor,
        )
    }
}

#[cfg(test)]
mod tests {
    use std::collections::{BTreeMap, HashMap};
    use std::num::NonZeroU32;

    use serde::Deserialize;

    use super::{trace, type_digest};

    /// Two versions of the same types, as before and after a deploy.
    mod v1 {
        use super::Deserialize;

        #[derive(Deserialize)]
        #[allow(dead_code)]
        pub enum Kind {
            Plain,
            Gift(u8),
        }

        #[derive(Deserialize)]
        #[allow(dead_code)]
        pub enum Status {
            Open,
            Paid { kind: Kind, note: Option<String> },
        }

        #[derive(Deserialize)]
        #[allow(dead_code)]
        pub struct Line {
            pub sku: u32,
            pub status: Status,
        }
    }

    mod v2 {
        use super::Deserialize;

        /// `v1::Kind` with its second variant retyped.
        #[derive(Deserialize)]
        #[allow(dead_code)]
        pub enum Kind {
            Plain,
            Gift(u16),
        }

        #[derive(Deserialize)]
        #[allow(dead_code)]
        pub enum Status {
            Open,
            Paid { kind: Kind, note: Option<String> },
        }

        #[derive(Deserialize)]
        #[allow(dead_code)]
        pub struct Line {
            pub sku: u32,
            pub status: Status,
        }

        /// `v1::Line` renamed and moved, its types too: nothing postcard reads changed.
        #[derive(Deserialize)]
        #[allow(dead_code)]
        pub struct Item {
            pub sku: u32,
            pub status: super::v1::Status,
        }
    }

    #[derive(Deserialize)]
    #[allow(dead_code)]
    enum Before {
        User,
        Admin,
    }

    #[derive(Deserialize)]
    #[allow(dead_code)]
    enum Inserted {
        Guest,
        User,
        Admin,
    }

    #[derive(Deserialize)]
    #[allow(dead_code)]
    enum Renamed {
        User,
        Owner,
    }

    #[derive(Deserialize)]
    #[allow(dead_code)]
    struct Ab {
        a: u8,
        b: u8,
    }

    #[derive(Deserialize)]
    #[allow(dead_code)]
    struct Ba {
        b: u8,
        a: u8,
    }

    /// Recursive through a sequence, a `Box` in variant 0, and two enums that reach each other.
    #[derive(Deserialize)]
    #[allow(dead_code)]
    struct Tree {
        label: String,
        children: Vec<Tree>,
    }

    #[derive(Deserialize)]
    #[allow(dead_code)]
    enum Expr {
        Neg(Box<Expr>),
        Add(Box<Expr>, Box<Expr>),
        Num(i64),
    }

    #[derive(Deserialize)]
    #[allow(dead_code)]
    enum Ping {
        Pong(Box<Pong>),
        Stop,
    }

    #[derive(Deserialize)]
    #[allow(dead_code)]
    enum Pong {
        Ping(Box<Ping>),
        Value(Option<u8>),
    }

    #[derive(Deserialize)]
    #[serde(untagged)]
    #[allow(dead_code)]
    enum Untagged {
        Number(u64),
        Text(String),
    }

    /// Rejects the tracer's placeholder string.
    #[derive(Deserialize)]
    #[serde(try_from = "String")]
    #[allow(dead_code)]
    struct Email(String);

    impl TryFrom<String> for Email {
        type Error = &'static str;
        fn try_from(text: String) -> Result<Self, Self::Error> {
            match text.contains('@') {
                true => Ok(Self(text)),
                false => Err("not an email address"),
            }
        }
    }

    #[derive(Deserialize)]
    #[allow(dead_code)]
    struct Strict {
        id: NonZeroU32,
        email: Email,
    }

    fn digest<T: serde::de::DeserializeOwned>() -> u32 {
        trace::<T>().expect("a traceable type")
    }

    #[test]
    fn what_postcard_reads_differently_changes_the_digest() {
        let differ = [
            (digest::<Before>(), digest::<Inserted>()),
            (digest::<Before>(), digest::<Renamed>()),
            (digest::<Ab>(), digest::<Ba>()),
            (digest::<u64>(), digest::<Option<u64>>()),
            (digest::<u64>(), digest::<i64>()),
            (digest::<u8>(), digest::<u16>()),
            (digest::<u8>(), digest::<i8>()),
            (digest::<String>(), digest::<Vec<u8>>()),
            (digest::<Vec<u64>>(), digest::<u64>()),
            (digest::<Vec<u64>>(), digest::<BTreeMap<u64, u64>>()),
            (digest::<(u8, u16)>(), digest::<(u16, u8)>()),
            (digest::<(u8, u8)>(), digest::<(u8, u8, u8)>()),
            (digest::<Option<Option<u8>>>(), digest::<Option<u8>>()),
            // A change deep inside the second variant of an enum inside another's second
            // variant: the tracer must have taken both.
            (digest::<Vec<v1::Line>>(), digest::<Vec<v2::Line>>()),
            (digest::<Tree>(), digest::<Vec<String>>()),
            (digest::<Expr>(), digest::<Ping>()),
        ];
        for (n, (a, b)) in differ.into_iter().enumerate() {
            assert_ne!(a, b, "case {n}");
        }
    }

    #[test]
    fn what_postcard_reads_the_same_way_keeps_it() {
        // Names of types do not count, nor which map or set, nor a newtype around a value.
        #[derive(Deserialize)]
        #[allow(dead_code)]
        struct UserId(u64);
        assert_eq!(digest::<Vec<v1::Line>>(), digest::<Vec<v2::Item>>());
        assert_eq!(
            digest::<HashMap<String, u32>>(),
            digest::<BTreeMap<String, u32>>()
        );
        assert_eq!(digest::<u64>(), digest::<UserId>());
        assert_eq!(digest::<u64>(), digest::<u32>());
        // The same type, traced again from scratch.
        assert_eq!(digest::<Vec<v1::Line>>(), digest::<Vec<v1::Line>>());
    }

    /// Three levels of enums of two variants, the inner one reached only through the second
    /// variant of `Outer` and the first of `Mid`: a `Mid` that moved on every pass, reached or
    /// not, would be at its second variant each time `Outer` reaches it, and `Deep`'s second
    /// variant would never be traced.
    mod nested {
        use super::Deserialize;

        #[derive(Deserialize)]
        #[allow(dead_code)]
        pub enum Outer<M> {
            Empty,
            Mid(M),
        }

        #[derive(Deserialize)]
        #[allow(dead_code)]
        pub enum Mid<D> {
            Deep(D),
            Empty,
        }

        #[derive(Deserialize)]
        #[allow(dead_code)]
        pub enum Deep<T> {
            Empty,
            Value(T),
        }
    }

    #[test]
    fn an_enum_reached_only_deep_inside_others_is_traced() {
        use nested::{Deep, Mid, Outer};
        let narrow = digest::<Outer<Mid<Deep<u8>>>>();
        let wide = digest::<Outer<Mid<Deep<u16>>>>();
        assert_ne!(narrow, wide);
    }

    #[test]
    fn recursive_types_are_traced_to_an_end() {
        for digest in [trace::<Tree>(), trace::<Expr>(), trace::<Ping>()] {
            assert!(digest.is_some());
        }
        // Each variant of a recursive enum counts.
        #[derive(Deserialize)]
        #[allow(dead_code)]
        enum ExprI32 {
            Neg(Box<ExprI32>),
            Add(Box<ExprI32>, Box<ExprI32>),
            Num(i32),
        }
        #[derive(Deserialize)]
        #[allow(dead_code)]
        enum ExprU64 {
            Neg(Box<ExprU64>),
            Add(Box<ExprU64>, Box<ExprU64>),
            Num(u64),
        }
        assert_eq!(digest::<Expr>(), digest::<ExprI32>());
        assert_ne!(digest::<Expr>(), digest::<ExprU64>());
    }

    #[test]
    fn types_that_cannot_be_traced_have_no_digest() {
        assert_eq!(trace::<Untagged>(), None);
        assert_eq!(trace::<Strict>(), None);
        assert_eq!(trace::<Vec<Untagged>>(), None);
        // And the cache keeps that answer.
        assert_eq!(type_digest::<Untagged>(), None);
        assert_eq!(type_digest::<Untagged>(), None);
    }

    #[test]
    fn the_cache_answers_what_a_trace_does() {
        assert_eq!(type_digest::<Vec<v1::Line>>(), trace::<Vec<v1::Line>>());
        assert_eq!(type_digest::<Vec<v1::Line>>(), trace::<Vec<v1::Line>>());
        assert_ne!(
            type_digest::<Vec<v1::Line>>(),
            type_digest::<Vec<v2::Line>>()
        );
    }

    #[test]
    fn the_type_digest_is_part_of_the_stored_format() {
        // Changing the tracing rules changes what stored records mean: bump the field format.
        assert_eq!(digest::<Vec<(String, Option<u64>)>>(), 0xe95c_5a67);
        assert_eq!(digest::<Vec<v1::Line>>(), 0xc37e_f243);
    }
}
