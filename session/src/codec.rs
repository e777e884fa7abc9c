//! How one field's value becomes bytes in a stored record, and back.
//!
//! Each field of a [`SessionData`](crate::SessionData) struct is encoded on its own, so a
//! store can keep, compare and patch fields one by one. The default codec is [`Postcard`]
//! (compact, fast); [`Json`] is there for records that other programs must read. A struct
//! picks its codec with `#[session(codec = path::To::Codec)]`.
//!
//! Neither ever reads bytes written for another type as a wrong value: JSON says what it
//! holds, and postcard bytes carry the digest of the value's shape (see `shape.rs`), checked
//! on every decode.

use serde::Serialize;
use serde::de::DeserializeOwned;

use crate::shape;

/// An encoding of single field values.
///
/// Implement it to store fields in another format; the derive calls it through
/// `<C as Codec>::encode` / `decode`, so no instance is ever needed. A codec must not decode
/// bytes written for another type into a wrong value: after a deploy that changes a field's
/// type, `decode` answers an error (and the field gets its default) unless the value it reads
/// is the one that was written.
///
/// ```
/// use sessionly::{Codec, Postcard};
///
/// let bytes = Postcard::encode(&Some(7u64)).unwrap();
/// assert_eq!(Postcard::decode::<Option<u64>>(&bytes).unwrap(), Some(7));
/// ```
#[diagnostic::on_unimplemented(
    message = "`{Self}` is not a session codec: it does not implement `sessionly::Codec`",
    label = "not a `Codec`",
    note = "`#[session(codec = ...)]` takes `sessionly::Postcard` (the default) or `sessionly::Json` (feature `json`), or a type of yours that implements `sessionly::Codec`"
)]
pub trait Codec: Send + Sync + 'static {
    /// Encodes one value.
    fn encode<T: Serialize + ?Sized>(value: &T) -> Result<Vec<u8>, CodecError>;
    /// Decodes one value; bytes that no longer fit `T` are an error, not a panic.
    fn decode<T: Serialize + DeserializeOwned>(bytes: &[u8]) -> Result<T, CodecError>;

    /// Encodes the value of a session field, whose type can also be decoded: what the derive
    /// calls. The default is [`encode`](Codec::encode); a codec overrides it to store what
    /// only a decodable type gives (as [`Postcard`] stores a large value's type digest).
    fn encode_field<T: Serialize + DeserializeOwned>(value: &T) -> Result<Vec<u8>, CodecError> {
        Self::encode(value)
    }
}

/// A value could not be encoded or decoded.
#[derive(Debug, thiserror::Error)]
#[error("{codec} codec: {message}")]
pub struct CodecError {
    codec: &'static str,
    message: String,
}

impl CodecError {
    /// Builds an error for the codec named `codec`.
    pub fn new(codec: &'static str, message: impl std::fmt::Display) -> Self {
        Self {
            codec,
            message: message.to_string(),
        }
    }
}

/// The compact binary codec ([postcard](https://docs.rs/postcard)); the default.
///
/// A value is stored as a format byte (`0xF1`), the 32-bit digest of the value's shape
/// (little-endian), then the postcard bytes: 5 bytes more than postcard alone. Decoding
/// checks the digest against the decoded value's, so bytes written for another type (an
/// enum variant inserted, a field retyped, an `Option` added) are an error, never a wrong
/// value; a change postcard reads the same (a wider integer, a newtype) still decodes.
///
/// Walking a decoded value for its shape costs a step per element of a collection, so a
/// session field whose postcard bytes are 256 or more also stores the digest of its *type*
/// (traced once per type from its `Deserialize`): format byte `0xF2`, the type's digest, the
/// value's digest, then the postcard bytes, 9 bytes more than postcard alone. Decoding compares
/// the type's digest, one comparison; if the type changed since the write, it falls back to
/// the value's digest as above (so an enum variant added at the end still decodes). A type
/// whose `Deserialize` cannot be traced (one using `deserialize_any`, as an untagged enum does)
/// keeps the first layout. (Versions of this crate before the second layout read such a field
/// as missing: its default, with a warning.)
#[derive(Debug, Clone, Copy, Default)]
pub struct Postcard;

/// The first byte of a postcard field, version 1: what follows is the shape digest and the
/// postcard bytes. Part of the stored format: a later layout gets a byte of its own.
const POSTCARD_V1: u8 = 0xF1;
const HEADER_LEN: usize = 5;
/// Version 2, for large values of a traceable type: the type's digest, the value's, the
/// postcard bytes.
const POSTCARD_V2: u8 = 0xF2;
/// The smallest postcard body stored with its type's digest: below it, walking the value is
/// about as cheap as looking the type's digest up.
const TYPED_FROM: usize = 256;

impl Codec for Postcard {
    fn encode<T: Serialize + ?Sized>(value: &T) -> Result<Vec<u8>, CodecError> {
        let mut bytes = Vec::with_capacity(HEADER_LEN + 16);
        bytes.push(POSTCARD_V1);
        bytes.extend_from_slice(&shape::digest(value).to_le_bytes());
        postcard::to_extend(value, bytes).map_err(|e| CodecError::new("postcard", e))
    }

    fn encode_field<T: Serialize + DeserializeOwned>(value: &T) -> Result<Vec<u8>, CodecError> {
        let mut bytes = Self::encode(value)?;
        if bytes.len() - HEADER_LEN < TYPED_FROM {
            return Ok(bytes);
        }
        let Some(type_digest) = shape::type_digest::<T>() else {
            return Ok(bytes);
        };
        bytes[0] = POSTCARD_V2;
        bytes.splice(1..1, type_digest.to_le_bytes());
        Ok(bytes)
    }

    fn decode<T: Serialize + DeserializeOwned>(bytes: &[u8]) -> Result<T, CodecError> {
        let (stored, body) = match bytes {
            [POSTCARD_V1, a, b, c, d, body @ ..] => (u32::from_le_bytes([*a, *b, *c, *d]), body),
            [POSTCARD_V2, a, b, c, d, e, f, g, h, body @ ..] => {
                let value = decode_body(body)?;
                if shape::type_digest::<T>() == Some(u32::from_le_bytes([*a, *b, *c, *d])) {
                    return Ok(value);
                }
                return check(value, u32::from_le_bytes([*e, *f, *g, *h]));
            }
            [first, ..] => {
                return Err(CodecError::new(
                    "postcard",
                    format_args!("unknown field format {first:#04x} (a newer version wrote it?)"),
                ));
            }
            [] => return Err(CodecError::new("postcard", "empty field")),
        };
        check(decode_body(body)?, stored)
    }
}

/// The value postcard reads from `body`, which it must use up.
fn decode_body<T: DeserializeOwned>(body: &[u8]) -> Result<T, CodecError> {
    let (value, rest) =
        postcard::take_from_bytes::<T>(body).map_err(|e| CodecError::new("postcard", e))?;
    if !rest.is_empty() {
        return Err(CodecError::new(
            "postcard",
            format_args!("{} trailing bytes after the value", rest.len()),
        ));
    }
    Ok(value)
}

/// `value` if its shape is the `stored` one.
fn check<T: Serialize>(value: T, stored: u32) -> Result<T, CodecError> {
    if shape::digest(&value) != stored {
        return Err(CodecError::new(
            "postcard",
            "the stored value has another shape: the field's type changed",
        ));
    }
    Ok(value)
}

/// The JSON codec ([serde_json](https://docs.rs/serde_json)).
#[cfg(feature = "json")]
#[derive(Debug, Clone, Copy, Default)]
pub struct Json;

#[cfg(feature = "json")]
impl Codec for Json {
    fn encode<T: Serialize + ?Sized>(value: &T) -> Result<Vec<u8>, CodecError> {
        serde_json::to_vec(value).map_err(|e| CodecError::new("json", e))
    }

    fn decode<T: Serialize + DeserializeOwned>(bytes: &[u8]) -> Result<T, CodecError> {
        serde_json::from_slice(bytes).map_err(|e| CodecError::new("json", e))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn postcard_rejects_trailing_bytes() {
        let mut bytes = Postcard::encode(&5u8).unwrap();
        bytes.push(0);
        assert!(Postcard::decode::<u8>(&bytes).is_err());
    }

    #[test]
    fn postcard_rejects_bytes_of_another_type() {
        let bytes = Postcard::encode("not a number at all").unwrap();
        assert!(Postcard::decode::<bool>(&bytes).is_err());
        assert!(Postcard::decode::<u8>(&Postcard::encode(&u64::MAX).unwrap()).is_err());
    }

    #[derive(Debug, Clone, PartialEq, Serialize, serde::Deserialize)]
    enum Role {
        User,
        Admin,
    }

    #[derive(Debug, Clone, PartialEq, Serialize, serde::Deserialize)]
    enum Appended {
        User,
        Admin,
        Owner,
    }

    #[derive(Debug, Clone, PartialEq, Serialize, serde::Deserialize)]
    enum Inserted {
        Guest,
        User,
        Admin,
    }

    #[test]
    fn a_large_field_carries_its_type_digest() {
        let large = vec![Role::Admin; TYPED_FROM];
        let bytes = Postcard::encode_field(&large).unwrap();
        assert_eq!(bytes[0], POSTCARD_V2);
        assert_eq!(bytes.len(), Postcard::encode(&large).unwrap().len() + 4);
        assert_eq!(Postcard::decode::<Vec<Role>>(&bytes).unwrap(), large);
        // Below the threshold, the value's digest alone, as before.
        let small = vec![Role::Admin; TYPED_FROM - 10];
        let bytes = Postcard::encode_field(&small).unwrap();
        assert_eq!(bytes, Postcard::encode(&small).unwrap());
        assert_eq!(bytes[0], POSTCARD_V1);
    }

    #[test]
    fn a_large_field_of_a_changed_type_falls_back_to_its_value_digest() {
        let bytes = Postcard::encode_field(&vec![Role::Admin; 300]).unwrap();
        // A variant added at the end: another type digest, the same value shape.
        assert_eq!(
            Postcard::decode::<Vec<Appended>>(&bytes).unwrap(),
            vec![Appended::Admin; 300]
        );
        // A variant inserted before the stored one: never a wrong value.
        assert!(Postcard::decode::<Vec<Inserted>>(&bytes).is_err());
        assert!(Postcard::decode::<Vec<u8>>(&bytes).is_err());
    }

    #[test]
    fn a_large_field_of_an_untraceable_type_keeps_the_first_layout() {
        #[derive(Clone, Serialize, serde::Deserialize)]
        #[serde(untagged)]
        enum Loose {
            Number(u64),
        }
        let value = vec![Loose::Number(7); 300];
        let bytes = Postcard::encode_field(&value).unwrap();
        assert_eq!(bytes[0], POSTCARD_V1);
    }

    #[test]
    fn the_second_layout_is_part_of_the_stored_format() {
        // The format byte, the type's digest, the value's digest, then postcard's bytes: the
        // length (256, a varint) and one byte per element.
        let header = [
            0xf2, 0x1c, 0x0d, 0xf4, 0x7e, 0x95, 0xf8, 0xed, 0x7e, 0x80, 0x02,
        ];
        let bytes = Postcard::encode_field(&vec![Role::Admin; 256]).unwrap();
        assert_eq!(bytes[..11], header);
        let mut stored = header.to_vec();
        stored.extend([1; 256]);
        assert_eq!(
            Postcard::decode::<Vec<Role>>(&stored).unwrap(),
            vec![Role::Admin; 256]
        );
    }

    #[cfg(feature = "json")]
    #[test]
    fn json_round_trips() {
        let bytes = Json::encode(&vec!["a", "b"]).unwrap();
        assert_eq!(bytes, br#"["a","b"]"#);
        assert_eq!(Json::decode::<Vec<String>>(&bytes).unwrap(), ["a", "b"]);
    }
}
