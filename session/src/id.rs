//! Session IDs: 192 random bits from a CSPRNG, written URL-safe.
//!
//! Like express's `uid-safe(24)`: 24 bytes from the thread-local ChaCha generator (seeded and
//! periodically reseeded from the operating system), encoded as 32 characters of unpadded
//! URL-safe base64, so an id needs no escaping in a cookie, a URL or a store key.

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use rand::Rng as _;

/// Random bytes in a generated id.
const ID_BYTES: usize = 24;

/// A new random session id (32 URL-safe characters).
///
/// ```
/// let id = sessionly::generate_id();
/// assert_eq!(id.len(), 32);
/// assert!(id.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_'));
/// ```
pub fn generate_id() -> String {
    let mut bytes = [0u8; ID_BYTES];
    rand::rng().fill_bytes(&mut bytes);
    URL_SAFE_NO_PAD.encode(bytes)
}

#[cfg(test)]
mod tests {
    use std::collections::HashSet;

    #[test]
    fn ids_are_distinct_and_url_safe() {
        let ids: HashSet<String> = (0..10_000).map(|_| super::generate_id()).collect();
        assert_eq!(ids.len(), 10_000);
        for id in &ids {
            assert_eq!(id.len(), 32);
            assert!(
                id.bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
            );
        }
    }
}
