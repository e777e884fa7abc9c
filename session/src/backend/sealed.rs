//! Sessions with no server-side store: the whole session sealed into its cookie.
//!
//! A layer given a [`CookieStore`] keeps its sessions in their cookies (the backend's `Sealed`
//! kind), and instead of a signed id sends a cookie that holds the session itself:
//! its id, cookie state, fields and owner, encoded as a store record is (postcard, the fields'
//! own bytes), then encrypted and authenticated with XChaCha20-Poly1305 under a key derived
//! from the layer's first secret; every secret's key opens, so rotation works as for signed
//! cookies. The cookie's name is authenticated with it, so a value cannot be moved to a cookie of
//! another name. The expiry travels inside the sealed payload and is checked on every request:
//! a cookie kept past its end (by a client that ignores `Expires`) opens as no session.
//!
//! The [`Sealer`] does the sealing; the backend calls it where it would otherwise sign an id
//! and call the store.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use chacha20poly1305::aead::{Aead, Payload};
use chacha20poly1305::{KeyInit, XChaCha20Poly1305, XNonce};
use hmac::{Hmac, Mac};
use sha2::Sha256;

use crate::record::{CookieState, Fields, Record, millis_since_epoch};
#[cfg(test)]
use crate::store::DEFAULT_IDLE_TTL;
use crate::store::{CookieStore, MAX_COOKIE_LEN};

/// The first byte of the sealed plaintext: the payload's format.
const FORMAT: u8 = 1;

/// What the keys are derived for: HMAC-SHA256(secret, this).
const KEY_LABEL: &[u8] = b"sessionly cookie store v1 key";

/// Authenticated with every sealed value, followed by the cookie's name.
const AAD_PREFIX: &[u8] = b"sessionly cookie store v1\0";

const NONCE_LEN: usize = 24;
const TAG_LEN: usize = 16;

/// Why a session could not be sealed into its cookie.
#[derive(Debug)]
pub(crate) enum SealError {
    /// The cookie would be `size` bytes with its name, over [`MAX_COOKIE_LEN`].
    TooLarge { size: usize },
    /// The record could not be encoded.
    Encode(String),
}

/// Seals sessions into cookie values and opens them, with keys from the layer's secrets.
pub(crate) struct Sealer {
    /// One cipher per secret; the first seals, all open.
    ciphers: Vec<XChaCha20Poly1305>,
    /// [`AAD_PREFIX`] and the cookie's name.
    aad: Vec<u8>,
    /// The cookie's name, counted in its size.
    name_len: usize,
    idle_ttl: Duration,
}

impl std::fmt::Debug for Sealer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Sealer")
            .field("keys", &self.ciphers.len())
            .field("idle_ttl", &self.idle_ttl)
            .finish()
    }
}

impl Sealer {
    /// A sealer for `store`'s sessions in the cookie `name`, keyed by `secrets` (not empty: the
    /// layer checks).
    pub(crate) fn new(secrets: &[Vec<u8>], name: &str, store: &CookieStore) -> Self {
        let ciphers = secrets
            .iter()
            .filter_map(|secret| {
                // HMAC takes keys of any length, and its output is a key's length.
                let mut mac = Hmac::<Sha256>::new_from_slice(secret).ok()?;
                mac.update(KEY_LABEL);
                XChaCha20Poly1305::new_from_slice(&mac.finalize().into_bytes()).ok()
            })
            .collect();
        let mut aad = AAD_PREFIX.to_vec();
        aad.extend_from_slice(name.as_bytes());
        Self {
            ciphers,
            aad,
            name_len: name.len(),
            idle_ttl: store.idle_ttl(),
        }
    }

    /// The cookie value holding session `id` as `record` has it: base64url of a fresh random
    /// nonce and the sealed payload.
    pub(crate) fn seal(&self, id: &str, record: &Record) -> Result<String, SealError> {
        let plaintext = encode_payload(id, record)?;
        let size = self.name_len + 1 + sealed_len(plaintext.len());
        if size > MAX_COOKIE_LEN {
            return Err(SealError::TooLarge { size });
        }
        let nonce: [u8; NONCE_LEN] = rand::random();
        let nonce = XNonce::from(nonce);
        let Some(cipher) = self.ciphers.first() else {
            return Err(SealError::Encode("no key".into()));
        };
        let sealed = cipher
            .encrypt(
                &nonce,
                Payload {
                    msg: &plaintext,
                    aad: &self.aad,
                },
            )
            .map_err(|_| SealError::Encode("encryption failed".into()))?;
        let mut raw = nonce.to_vec();
        raw.extend_from_slice(&sealed);
        Ok(URL_SAFE_NO_PAD.encode(raw))
    }

    /// The session a cookie value holds, if one of the keys sealed it for this cookie: its id,
    /// and its record unless it has expired by `now` (its cookie's expiry, its absolute
    /// expiry, or for a browser-session cookie the idle TTL since its last save or touch).
    /// Anything else (not base64, too short, tampered, sealed with another key or for another
    /// cookie, an unknown format) is `None`.
    pub(crate) fn open(&self, raw: &str, now: SystemTime) -> Option<(String, Option<Record>)> {
        // Nothing longer could have been sealed here; do not decode what cannot open.
        if raw.len() > MAX_COOKIE_LEN {
            return None;
        }
        let raw = URL_SAFE_NO_PAD.decode(raw.trim_matches('"')).ok()?;
        if raw.len() < NONCE_LEN + TAG_LEN {
            return None;
        }
        let (nonce, sealed) = raw.split_at(NONCE_LEN);
        let nonce = XNonce::try_from(nonce).ok()?;
        let plaintext = self.ciphers.iter().find_map(|cipher| {
            cipher
                .decrypt(
                    &nonce,
                    Payload {
                        msg: sealed,
                        aad: &self.aad,
                    },
                )
                .ok()
        })?;
        let (id, record) = decode_payload(&plaintext)?;
        let live = !expired(&record, self.idle_ttl, now);
        Some((id, live.then_some(record)))
    }
}

/// The length of a cookie value sealing `plaintext_len` bytes: base64url, without padding, of
/// the nonce, the ciphertext and the tag.
fn sealed_len(plaintext_len: usize) -> usize {
    (NONCE_LEN + plaintext_len + TAG_LEN).div_ceil(3) * 4
        - (3 - (NONCE_LEN + plaintext_len + TAG_LEN) % 3) % 3
}

/// The plaintext a cookie seals: the format byte, then the id, the encoded cookie state, the
/// fields and the owner, postcard-encoded.
pub(crate) fn encode_payload(id: &str, record: &Record) -> Result<Vec<u8>, SealError> {
    let cookie = record
        .cookie
        .encode()
        .map_err(|e| SealError::Encode(e.to_string()))?;
    let payload: (&str, &[u8], &Fields, Option<&str>) =
        (id, &cookie, &record.fields, record.owner.as_deref());
    postcard::to_extend(&payload, vec![FORMAT]).map_err(|e| SealError::Encode(e.to_string()))
}

/// The id and record of an opened payload. It was sealed with one of the keys, so it is ours;
/// one that still does not decode (a future format) is logged and `None`.
pub(crate) fn decode_payload(plaintext: &[u8]) -> Option<(String, Record)> {
    let decoded = match plaintext.split_first() {
        Some((&FORMAT, rest)) => {
            postcard::from_bytes::<(String, Vec<u8>, Fields, Option<String>)>(rest)
                .map_err(|e| e.to_string())
                .and_then(|(id, cookie, fields, owner)| {
                    let cookie = CookieState::decode(&cookie).map_err(|e| e.to_string())?;
                    Ok((
                        id,
                        Record {
                            cookie,
                            fields,
                            owner,
                        },
                    ))
                })
        }
        _ => Err("unknown format".to_owned()),
    };
    decoded
        .map_err(|error| {
            tracing::warn!(%error, "sealed session cookie does not decode; starting a new session");
        })
        .ok()
}

/// Whether `record`, sealed at its last save or touch, has expired by `now`.
fn expired(record: &Record, idle_ttl: Duration, now: SystemTime) -> bool {
    let sealed_at = UNIX_EPOCH + Duration::from_millis(record.cookie.touched_ms);
    record.cookie.store_expiry_ms(idle_ttl, sealed_at) <= millis_since_epoch(now)
}

#[cfg(test)]
mod tests {
    use super::*;
    use bytes::Bytes;

    fn sealer(secrets: &[&str], name: &str) -> Sealer {
        let secrets: Vec<Vec<u8>> = secrets.iter().map(|s| s.as_bytes().to_vec()).collect();
        Sealer::new(&secrets, name, &CookieStore::new())
    }

    fn record(max_age: Option<Duration>, now: SystemTime) -> Record {
        let mut fields = Fields::new();
        fields.insert("views".into(), Bytes::from_static(&[1, 7]));
        let mut record = Record::new(CookieState::new(max_age, now), fields);
        record.owner = Some("ada".into());
        record
    }

    #[test]
    fn a_sealed_session_opens_with_any_of_the_keys_and_only_for_its_cookie() {
        let now = SystemTime::now();
        let session = record(Some(Duration::from_secs(60)), now);
        let value = sealer(&["new", "old"], "sid")
            .seal("id-1", &session)
            .unwrap();
        assert_eq!(
            value.len(),
            sealed_len(value.len() * 3 / 4 - NONCE_LEN - TAG_LEN)
        );
        let opened = Some(("id-1".to_owned(), Some(session.clone())));
        // A second value of the same session differs (a fresh nonce) and opens the same.
        let again = sealer(&["new"], "sid").seal("id-1", &session).unwrap();
        assert_ne!(value, again);
        for (secrets, name, value, expected) in [
            (&["new"][..], "sid", &value, &opened),
            (&["other", "new"][..], "sid", &value, &opened),
            (&["new"][..], "sid", &again, &opened),
            (&["old"][..], "sid", &value, &None),
            (&["new"][..], "other", &value, &None),
        ] {
            let got = sealer(secrets, name).open(value, now);
            assert_eq!(&got, expected, "{secrets:?} {name}");
        }
    }

    #[test]
    fn anything_but_an_intact_sealed_value_opens_as_nothing() {
        let now = SystemTime::now();
        let sealer = sealer(&["k"], "sid");
        let value = sealer.seal("id", &record(None, now)).unwrap();
        let mut flipped = value.clone().into_bytes();
        flipped[40] = if flipped[40] == b'A' { b'B' } else { b'A' };
        let flipped = String::from_utf8(flipped).unwrap();
        let long = "A".repeat(MAX_COOKIE_LEN + 1);
        for bad in [
            "",
            "not base64!",
            "AAAA",
            &value[..value.len() - 2],
            &flipped,
            &long,
            &format!("{value}A"),
        ] {
            assert_eq!(sealer.open(bad, now), None, "{bad:?}");
        }
        assert!(sealer.open(&value, now).is_some());
    }

    #[test]
    fn expiry_travels_inside_the_sealed_value() {
        let then = SystemTime::now();
        let sealer = sealer(&["k"], "sid");
        let minute = Duration::from_secs(60);
        let day = DEFAULT_IDLE_TTL;
        let mut capped = record(Some(day), then);
        capped.cookie.set_absolute_lifetime(Some(minute), then);
        // (max age, absolute cap, opened this long after sealing, still open)
        for (session, after, open) in [
            (record(Some(minute), then), Duration::ZERO, true),
            (record(Some(minute), then), minute, false),
            (record(None, then), day - minute, true),
            (record(None, then), day, false),
            (capped.clone(), Duration::from_secs(59), true),
            (capped, minute, false),
        ] {
            let value = sealer.seal("id", &session).unwrap();
            let (id, opened) = sealer.open(&value, then + after).unwrap();
            assert_eq!(id, "id");
            assert_eq!(opened.is_some(), open, "{session:?} after {after:?}");
        }
    }

    #[test]
    fn a_session_that_would_not_fit_is_refused() {
        let now = SystemTime::now();
        let sealer = sealer(&["k"], "sid");
        let mut session = record(None, now);
        let mut fits = 0;
        for len in (2800..3200).step_by(8) {
            session
                .fields
                .insert("big".into(), Bytes::from(vec![7; len]));
            match sealer.seal("id", &session) {
                Ok(value) => {
                    assert!(value.len() + "sid=".len() <= MAX_COOKIE_LEN);
                    fits = len;
                }
                Err(SealError::TooLarge { size }) => {
                    assert!(size > MAX_COOKIE_LEN, "{size}");
                    assert!(fits > 2900, "{fits} bytes fit");
                    return;
                }
                Err(other) => panic!("{other:?}"),
            }
        }
        panic!("3200 bytes fit in a cookie");
    }
}
