//! The shape of a value: what [`Postcard`](crate::Postcard) stores beside a field's bytes so
//! that bytes written for one type are never read as a value of another.
//!
//! Postcard bytes say nothing of the type that wrote them: after a deploy that changes a
//! field's type, the old bytes may decode into a wrong value (an enum variant inserted before
//! the stored one shifts every variant after it). So the codec stores a digest of the value's
//! *shape* — the sequence of serde calls its `Serialize` makes, without the data — and after
//! decoding, serializes the decoded value the same way and compares. Same shape: the bytes
//! were read the way they were written, so the value is the one stored. Another shape: the
//! type changed in a way that changes the meaning of the bytes, and the field gets its default.
//!
//! What the shape keeps and leaves out follows what postcard's bytes mean:
//! - kept: enum variant names (their index is what postcard stores), struct field names in
//!   order (fields are positional), `Option`, sequence, map and tuple structure, and the
//!   primitive's encoding class;
//! - left out: the data itself, struct, enum and newtype names (postcard does not store
//!   them, so renaming a type or moving it to another module or crate changes nothing), and a
//!   newtype wrapper (postcard writes `UserId(7)` as `7`: adding or removing one reads the same
//!   value);
//! - integers by encoding class: `u16` to `u128` are all varints, as are `i16` to `i128`
//!   (zigzag), so a width change reads the same number, or fails to decode when it no longer
//!   fits; `u8` and `i8` are single bytes, a class each, since a varint read as a byte would be
//!   a wrong value;
//! - the elements of a sequence and the entries of a map are combined in any order, so a
//!   `HashMap` or `HashSet`, whose order changes from one run to the next, keeps its shape.
//!
//! The digest is FNV-1a over 64-bit words (folded to 32 bits) of the shape: stable across platforms,
//! compilers and versions of this crate, which is what a stored format needs. It is not a
//! defence against an attacker, who cannot choose the stored bytes anyway.

use serde::Serialize;
use serde::ser::{self, Serializer};

mod traced;

pub(crate) use traced::type_digest;

/// The 32-bit shape digest of `value`.
pub(crate) fn digest<T: Serialize + ?Sized>(value: &T) -> u32 {
    let mut shape = Shape::new();
    // The shape serializer never fails; a `Serialize` impl that fails by itself still gets
    // the digest of what it produced before, the same on both sides of the comparison.
    let _ = value.serialize(&mut shape);
    shape.finish()
}

const FNV_OFFSET: u64 = 0xcbf2_9ce4_8422_2325;
const FNV_PRIME: u64 = 0x0000_0100_0000_01b3;

/// A shape being hashed.
struct Shape {
    hash: u64,
}

/// Tokens of the shape, one byte each; the numbers are part of the stored format.
mod token {
    pub const BOOL: u8 = 1;
    pub const U8: u8 = 2;
    pub const I8: u8 = 3;
    pub const UVARINT: u8 = 4;
    pub const IVARINT: u8 = 5;
    pub const F32: u8 = 6;
    pub const F64: u8 = 7;
    pub const CHAR: u8 = 8;
    pub const STR: u8 = 9;
    pub const BYTES: u8 = 10;
    pub const NONE: u8 = 11;
    pub const SOME: u8 = 12;
    pub const UNIT: u8 = 13;
    pub const VARIANT: u8 = 14;
    pub const SEQ: u8 = 15;
    pub const MAP: u8 = 16;
    pub const TUPLE: u8 = 17;
    pub const STRUCT: u8 = 18;
    pub const FIELD: u8 = 19;
    pub const END: u8 = 20;
}

impl Shape {
    fn new() -> Self {
        Self { hash: FNV_OFFSET }
    }

    /// One step of the hash: FNV-1a over 64-bit words rather than bytes, so that a shape costs
    /// one multiplication per token and per 8 bytes of a name.
    fn u64(&mut self, word: u64) {
        self.hash ^= word;
        self.hash = self.hash.wrapping_mul(FNV_PRIME);
    }

    fn byte(&mut self, token: u8) {
        self.u64(u64::from(token));
    }

    /// A name, delimited by its length so that two names never run together, then its bytes
    /// as little-endian words (the last one padded with zeros).
    fn name(&mut self, name: &str) {
        self.u64(name.len() as u64);
        for chunk in name.as_bytes().chunks(8) {
            let mut word = [0; 8];
            word[..chunk.len()].copy_from_slice(chunk);
            self.u64(u64::from_le_bytes(word));
        }
    }

    fn variant(&mut self, index: u32, name: &str) {
        self.byte(token::VARIANT);
        self.u64(u64::from(index));
        self.name(name);
    }

    fn finish(&self) -> u32 {
        // Folded: both halves of the 64-bit state count.
        (self.hash ^ (self.hash >> 32)) as u32
    }
}

/// The order-free part of a sequence or map: the wrapping sum of each element's own digest.
struct Unordered<'a> {
    outer: &'a mut Shape,
    sum: u64,
    /// A map entry in progress: the key's shape, until its value is added.
    entry: Option<Shape>,
}

impl Unordered<'_> {
    fn add<T: Serialize + ?Sized>(&mut self, value: &T) {
        let mut element = Shape::new();
        let _ = value.serialize(&mut element);
        self.sum = self.sum.wrapping_add(element.hash);
    }

    fn end(self) {
        self.outer.u64(self.sum);
        self.outer.byte(token::END);
    }
}

/// A serializer error, which the shape serializer never raises itself.
#[derive(Debug)]
struct Never(String);

impl std::fmt::Display for Never {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for Never {}

impl ser::Error for Never {
    fn custom<T: std::fmt::Display>(msg: T) -> Self {
        Self(msg.to_string())
    }
}

impl<'a> Serializer for &'a mut Shape {
    type Ok = ();
    type Error = Never;
    type SerializeSeq = Unordered<'a>;
    type SerializeTuple = &'a mut Shape;
    type SerializeTupleStruct = &'a mut Shape;
    type SerializeTupleVariant = &'a mut Shape;
    type SerializeMap = Unordered<'a>;
    type SerializeStruct = &'a mut Shape;
    type SerializeStructVariant = &'a mut Shape;

    fn is_human_readable(&self) -> bool {
        // As postcard: types that serialize differently for humans pick the same form here.
        false
    }

    fn serialize_bool(self, _: bool) -> Result<(), Never> {
        self.byte(token::BOOL);
        Ok(())
    }
    fn serialize_i8(self, _: i8) -> Result<(), Never> {
        self.byte(token::I8);
        Ok(())
    }
    fn serialize_i16(self, _: i16) -> Result<(), Never> {
        self.byte(token::IVARINT);
        Ok(())
    }
    fn serialize_i32(self, _: i32) -> Result<(), Never> {
        self.byte(token::IVARINT);
        Ok(())
    }
    fn serialize_i64(self, _: i64) -> Result<(), Never> {
        self.byte(token::IVARINT);
        Ok(())
    }
    fn serialize_i128(self, _: i128) -> Result<(), Never> {
        self.byte(token::IVARINT);
        Ok(())
    }
    fn serialize_u8(self, _: u8) -> Result<(), Never> {
        self.byte(token::U8);
        Ok(())
    }
    fn serialize_u16(self, _: u16) -> Result<(), Never> {
        self.byte(token::UVARINT);
        Ok(())
    }
    fn serialize_u32(self, _: u32) -> Result<(), Never> {
        self.byte(token::UVARINT);
        Ok(())
    }
    fn serialize_u64(self, _: u64) -> Result<(), Never> {
        self.byte(token::UVARINT);
        Ok(())
    }
    fn serialize_u128(self, _: u128) -> Result<(), Never> {
        self.byte(token::UVARINT);
        Ok(())
    }
    fn serialize_f32(self, _: f32) -> Result<(), Never> {
        self.byte(token::F32);
        Ok(())
    }
    fn serialize_f64(self, _: f64) -> Result<(), Never> {
        self.byte(token::F64);
        Ok(())
    }
    fn serialize_char(self, _: char) -> Result<(), Never> {
        self.byte(token::CHAR);
        Ok(())
    }
    fn serialize_str(self, _: &str) -> Result<(), Never> {
        self.byte(token::STR);
        Ok(())
    }
    fn serialize_bytes(self, _: &[u8]) -> Result<(), Never> {
        self.byte(token::BYTES);
        Ok(())
    }
    fn serialize_none(self) -> Result<(), Never> {
        self.byte(token::NONE);
        Ok(())
    }
    fn serialize_some<T: Serialize + ?Sized>(self, value: &T) -> Result<(), Never> {
        self.byte(token::SOME);
        value.serialize(self)
    }
    fn serialize_unit(self) -> Result<(), Never> {
        self.byte(token::UNIT);
        Ok(())
    }
    fn serialize_unit_struct(self, _: &'static str) -> Result<(), Never> {
        self.byte(token::UNIT);
        Ok(())
    }
    fn serialize_unit_variant(
        self,
        _: &'static str,
        index: u32,
        variant: &'static str,
    ) -> Result<(), Never> {
        self.variant(index, variant);
        self.byte(token::UNIT);
        Ok(())
    }
    fn serialize_newtype_struct<T: Serialize + ?Sized>(
        self,
        _: &'static str,
        value: &T,
    ) -> Result<(), Never> {
        // Transparent, as in postcard's bytes.
        value.serialize(self)
    }
    fn serialize_newtype_variant<T: Serialize + ?Sized>(
        self,
        _: &'static str,
        index: u32,
        variant: &'static str,
        value: &T,
    ) -> Result<(), Never> {
        self.variant(index, variant);
        value.serialize(self)
    }
    fn serialize_seq(self, _: Option<usize>) -> Result<Unordered<'a>, Never> {
        self.byte(token::SEQ);
        Ok(Unordered {
            outer: self,
            sum: 0,
            entry: None,
        })
    }
    fn serialize_tuple(self, len: usize) -> Result<Self, Never> {
        self.byte(token::TUPLE);
        self.u64(len as u64);
        Ok(self)
    }
    fn serialize_tuple_struct(self, _: &'static str, len: usize) -> Result<Self, Never> {
        self.serialize_tuple(len)
    }
    fn serialize_tuple_variant(
        self,
        _: &'static str,
        index: u32,
        variant: &'static str,
        len: usize,
    ) -> Result<Self, Never> {
        self.variant(index, variant);
        self.serialize_tuple(len)
    }
    fn serialize_map(self, _: Option<usize>) -> Result<Unordered<'a>, Never> {
        self.byte(token::MAP);
        Ok(Unordered {
            outer: self,
            sum: 0,
            entry: None,
        })
    }
    fn serialize_struct(self, _: &'static str, _: usize) -> Result<Self, Never> {
        self.byte(token::STRUCT);
        Ok(self)
    }
    fn serialize_struct_variant(
        self,
        _: &'static str,
        index: u32,
        variant: &'static str,
        _: usize,
    ) -> Result<Self, Never> {
        self.variant(index, variant);
        self.byte(token::STRUCT);
        Ok(self)
    }
}

impl ser::SerializeSeq for Unordered<'_> {
    type Ok = ();
    type Error = Never;
    fn serialize_element<T: Serialize + ?Sized>(&mut self, value: &T) -> Result<(), Never> {
        self.add(value);
        Ok(())
    }
    fn end(self) -> Result<(), Never> {
        Unordered::end(self);
        Ok(())
    }
}

impl ser::SerializeMap for Unordered<'_> {
    type Ok = ();
    type Error = Never;
    fn serialize_key<T: Serialize + ?Sized>(&mut self, key: &T) -> Result<(), Never> {
        let mut entry = Shape::new();
        let _ = key.serialize(&mut entry);
        self.entry = Some(entry);
        Ok(())
    }
    fn serialize_value<T: Serialize + ?Sized>(&mut self, value: &T) -> Result<(), Never> {
        let mut entry = self.entry.take().unwrap_or_else(Shape::new);
        let _ = value.serialize(&mut entry);
        self.sum = self.sum.wrapping_add(entry.hash);
        Ok(())
    }
    fn end(self) -> Result<(), Never> {
        Unordered::end(self);
        Ok(())
    }
}

/// Tuples, tuple structs and variants: elements in order.
impl ser::SerializeTuple for &mut Shape {
    type Ok = ();
    type Error = Never;
    fn serialize_element<T: Serialize + ?Sized>(&mut self, value: &T) -> Result<(), Never> {
        value.serialize(&mut **self)
    }
    fn end(self) -> Result<(), Never> {
        self.byte(token::END);
        Ok(())
    }
}

impl ser::SerializeTupleStruct for &mut Shape {
    type Ok = ();
    type Error = Never;
    fn serialize_field<T: Serialize + ?Sized>(&mut self, value: &T) -> Result<(), Never> {
        value.serialize(&mut **self)
    }
    fn end(self) -> Result<(), Never> {
        self.byte(token::END);
        Ok(())
    }
}

impl ser::SerializeTupleVariant for &mut Shape {
    type Ok = ();
    type Error = Never;
    fn serialize_field<T: Serialize + ?Sized>(&mut self, value: &T) -> Result<(), Never> {
        value.serialize(&mut **self)
    }
    fn end(self) -> Result<(), Never> {
        self.byte(token::END);
        Ok(())
    }
}

/// Structs and struct variants: fields in order, by name.
impl ser::SerializeStruct for &mut Shape {
    type Ok = ();
    type Error = Never;
    fn serialize_field<T: Serialize + ?Sized>(
        &mut self,
        key: &'static str,
        value: &T,
    ) -> Result<(), Never> {
        self.byte(token::FIELD);
        self.name(key);
        value.serialize(&mut **self)
    }
    fn skip_field(&mut self, key: &'static str) -> Result<(), Never> {
        // A skipped field is not in postcard's bytes either.
        let _ = key;
        Ok(())
    }
    fn end(self) -> Result<(), Never> {
        self.byte(token::END);
        Ok(())
    }
}

impl ser::SerializeStructVariant for &mut Shape {
    type Ok = ();
    type Error = Never;
    fn serialize_field<T: Serialize + ?Sized>(
        &mut self,
        key: &'static str,
        value: &T,
    ) -> Result<(), Never> {
        self.byte(token::FIELD);
        self.name(key);
        value.serialize(&mut **self)
    }
    fn end(self) -> Result<(), Never> {
        self.byte(token::END);
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use std::collections::{BTreeMap, HashMap, HashSet};

    use serde::Serialize;

    use super::digest;

    #[derive(Serialize)]
    #[allow(dead_code)]
    enum Before {
        User,
        Admin,
    }

    #[derive(Serialize)]
    #[allow(dead_code)]
    enum After {
        Guest,
        User,
        Admin,
    }

    #[derive(Serialize)]
    struct UserId(u64);

    #[derive(Serialize)]
    struct Ab {
        a: u8,
        b: u8,
    }

    #[derive(Serialize)]
    struct Ba {
        b: u8,
        a: u8,
    }

    #[test]
    fn data_does_not_count_and_types_do() {
        // Same shape: different data, widths of one class, newtypes, containers in any order.
        assert_eq!(digest(&1u64), digest(&2u64));
        assert_eq!(digest(&7u64), digest(&7u32));
        assert_eq!(digest(&-7i64), digest(&-7i16));
        assert_eq!(digest(&7u64), digest(&UserId(7)));
        assert_eq!(digest("a"), digest(&"b".to_owned()));
        let map: HashMap<u32, String> = (0..50).map(|i| (i, i.to_string())).collect();
        let sorted: BTreeMap<u32, String> = map.clone().into_iter().collect();
        assert_eq!(digest(&map), digest(&sorted));
        let set: HashSet<u16> = (0..50).collect();
        let vec: Vec<u16> = (0..50).rev().collect();
        assert_eq!(digest(&set), digest(&vec));
        // Another shape.
        let differ: [(u32, u32); 9] = [
            (digest(&Some(7u64)), digest("\u{7}")),
            (digest(&Before::Admin), digest(&After::User)),
            (digest(&7u64), digest(&7u8)),
            (digest(&7u64), digest(&7i64)),
            (digest(&7u8), digest(&7i8)),
            (digest(&Some(7u64)), digest(&7u64)),
            (digest(&vec![7u64]), digest(&7u64)),
            (digest(&Ab { a: 1, b: 2 }), digest(&Ba { b: 1, a: 2 })),
            (digest(&(1u8, 2u16)), digest(&(1u16, 2u8))),
        ];
        for (n, (a, b)) in differ.into_iter().enumerate() {
            assert_ne!(a, b, "case {n}");
        }
    }

    #[test]
    fn the_digest_is_part_of_the_stored_format() {
        // Changing the shape rules changes what stored records mean: bump the field format.
        assert_eq!(digest(&Some(7u64)), 0xbcb7_275a);
        assert_eq!(digest(&(1u8, "x", vec![Before::Admin])), 0x57cc_71a6);
    }
}
