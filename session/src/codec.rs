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
#[derive(Debug, Clone, Copy, Default)]
pub struct Postcard;

/// The first byte of a postcard field, version 1: what follows is the shape digest and the
/// postcard bytes. Part of the stored format: a later layout gets a byte of its own.
const POSTCARD_V1: u8 = 0xF1;
const HEADER_LEN: usize = 5;

impl Codec for Postcard {
    fn encode<T: Serialize + ?Sized>(value: &T) -> Result<Vec<u8>, CodecError> {
        let mut bytes = Vec::with_capacity(HEADER_LEN + 16);
        bytes.push(POSTCARD_V1);
        bytes.extend_from_slice(&shape::digest(value).to_le_bytes());
        postcard::to_extend(value, bytes).map_err(|e| CodecError::new("postcard", e))
    }

    fn decode<T: Serialize + DeserializeOwned>(bytes: &[u8]) -> Result<T, CodecError> {
        let (stored, body) = match bytes {
            [POSTCARD_V1, a, b, c, d, body @ ..] => (u32::from_le_bytes([*a, *b, *c, *d]), body),
            [first, ..] => {
                return Err(CodecError::new(
                    "postcard",
                    format_args!("unknown field format {first:#04x} (a newer version wrote it?)"),
                ));
            }
            [] => return Err(CodecError::new("postcard", "empty field")),
        };
        let (value, rest) =
            postcard::take_from_bytes::<T>(body).map_err(|e| CodecError::new("postcard", e))?;
        if !rest.is_empty() {
            return Err(CodecError::new(
                "postcard",
                format_args!("{} trailing bytes after the value", rest.len()),
            ));
        }
        if shape::digest(&value) != stored {
            return Err(CodecError::new(
                "postcard",
                "the stored value has another shape: the field's type changed",
            ));
        }
        Ok(value)
    }
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

    #[cfg(feature = "json")]
    #[test]
    fn json_round_trips() {
        let bytes = Json::encode(&vec!["a", "b"]).unwrap();
        assert_eq!(bytes, br#"["a","b"]"#);
        assert_eq!(Json::decode::<Vec<String>>(&bytes).unwrap(), ["a", "b"]);
    }
}
