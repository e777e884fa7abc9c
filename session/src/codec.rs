//! How one field's value becomes bytes in a stored record, and back.
//!
//! Each field of a [`SessionData`](crate::SessionData) struct is encoded on its own, so a
//! store can keep, compare and patch fields one by one. The default codec is [`Postcard`]
//! (compact, fast); [`Json`] is there for records that other programs must read. A struct
//! picks its codec with `#[session(codec = path::To::Codec)]`.

use serde::Serialize;
use serde::de::DeserializeOwned;

/// An encoding of single field values.
///
/// Implement it to store fields in another format; the derive calls it through
/// `<C as Codec>::encode` / `decode`, so no instance is ever needed.
///
/// ```
/// use sessionly::{Codec, Postcard};
///
/// let bytes = Postcard::encode(&Some(7u64)).unwrap();
/// assert_eq!(Postcard::decode::<Option<u64>>(&bytes).unwrap(), Some(7));
/// ```
pub trait Codec: Send + Sync + 'static {
    /// Encodes one value.
    fn encode<T: Serialize + ?Sized>(value: &T) -> Result<Vec<u8>, CodecError>;
    /// Decodes one value; bytes that no longer fit `T` are an error, not a panic.
    fn decode<T: DeserializeOwned>(bytes: &[u8]) -> Result<T, CodecError>;
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
#[derive(Debug, Clone, Copy, Default)]
pub struct Postcard;

impl Codec for Postcard {
    fn encode<T: Serialize + ?Sized>(value: &T) -> Result<Vec<u8>, CodecError> {
        postcard::to_allocvec(value).map_err(|e| CodecError::new("postcard", e))
    }

    fn decode<T: DeserializeOwned>(bytes: &[u8]) -> Result<T, CodecError> {
        let (value, rest) =
            postcard::take_from_bytes(bytes).map_err(|e| CodecError::new("postcard", e))?;
        if rest.is_empty() {
            Ok(value)
        } else {
            Err(CodecError::new(
                "postcard",
                format_args!("{} trailing bytes after the value", rest.len()),
            ))
        }
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

    fn decode<T: DeserializeOwned>(bytes: &[u8]) -> Result<T, CodecError> {
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
