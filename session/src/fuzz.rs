//! Entry points for the fuzz targets in `fuzz/`: each decoder of bytes that a client or a store
//! controls, reached without the HTTP stack, with the invariants the targets check. Behind the
//! `fuzzing` feature; not part of the public API.

use http::header::COOKIE;
use http::{HeaderMap, HeaderValue};

use crate::cookie::{Signer, find};
use crate::record::{CookieState, Record};

/// The `Cookie` header lookup and the signature check, on a header of any bytes: never a
/// panic, and an id that verifies is one the signer would sign to a value that verifies again.
/// The same bytes as a session token header (`Authorization: Bearer`, and a named header, once
/// and twice): never a panic, and a token read is a trimmed, bounded part of the header.
pub fn cookie_header(header: &[u8]) {
    let Ok(value) = HeaderValue::from_bytes(header) else {
        return;
    };
    let signer = Signer::new(&["fuzz secret", "older secret"]).expect("secrets");
    token_headers(&value, &signer);
    let mut headers = HeaderMap::new();
    headers.append(COOKIE, value);
    if let Some(raw) = find(&headers, "connect.sid")
        && let Some(id) = signer.verify(raw)
    {
        assert_eq!(
            signer.verify(&signer.sign(&id)).as_deref(),
            Some(id.as_str())
        );
    }
    // The same bytes as a cookie value on their own.
    if let Ok(text) = std::str::from_utf8(header)
        && let Some(id) = signer.verify(text)
    {
        assert_eq!(
            signer.verify(&signer.sign(&id)).as_deref(),
            Some(id.as_str())
        );
    }
}

/// A token header of the value `value`, read as each kind of token header.
fn token_headers(value: &HeaderValue, signer: &Signer) {
    use crate::transport::{Presented, TokenHeader, presented};
    let named = TokenHeader::named(http::HeaderName::from_static("session-token"));
    for header in [TokenHeader::bearer(), named] {
        for times in 1..=2 {
            let mut headers = HeaderMap::new();
            for _ in 0..times {
                headers.append(header.request_header().clone(), value.clone());
            }
            match presented(&headers, &header) {
                Presented::Token(token) => {
                    assert_eq!(times, 1, "a token read from several headers");
                    assert!(!token.is_empty() && token.len() <= 4096);
                    assert_eq!(token, token.trim_matches([' ', '\t']));
                    let text = value.to_str().expect("a token is text");
                    assert!(text.contains(token), "a token is part of its header");
                    if let Some(id) = signer.verify(token) {
                        assert_eq!(signer.verify(&signer.sign(&id)), Some(id));
                    }
                }
                Presented::Absent => {
                    assert!(header.request_header() == http::header::AUTHORIZATION)
                }
                Presented::NoToken(_) => {}
            }
        }
    }
}

/// The versioned cookie state: what decodes encodes back to a state that decodes the same.
pub fn cookie_state(bytes: &[u8]) {
    if let Ok(state) = CookieState::decode(bytes) {
        let again = state.encode().expect("a decoded state encodes");
        assert_eq!(CookieState::decode(&again).expect("round trip"), state);
    }
}

/// A memory store entry of any bytes: read as a record or an error, never a panic.
pub fn memory_entry(bytes: &[u8]) {
    let entry = crate::store::memory::Entry::from_bytes(bytes);
    let _ = entry.expires_ms();
    let _ = entry.owner();
    let _ = entry.record();
}

/// A memory store entry as the store writes it: at most one field of each name.
#[derive(Debug)]
pub struct MemoryEntry {
    pub expires_ms: u64,
    pub owner: Option<String>,
    pub cookie: Vec<u8>,
    pub fields: Vec<(String, Vec<u8>)>,
}

/// A patch of a memory store entry: the fields it names (`None`: removed), the owner if it
/// writes one, the new cookie state and expiry.
#[derive(Debug)]
pub struct MemoryPatch {
    pub fields: Vec<(String, Option<Vec<u8>>)>,
    pub owner: Option<Option<String>>,
    pub cookie: Vec<u8>,
    pub expires_ms: u64,
}

/// A patch applied to an entry in place, where the store does that, gives the record, owner
/// and expiry that rebuilding the entry gives, and marks the session as come back; where it is
/// not applied in place, the entry is untouched.
pub fn memory_patch(entry: &MemoryEntry, patch: &MemoryPatch) {
    use crate::store::memory::{Entry, assemble};
    let mut names = std::collections::BTreeSet::new();
    if !entry.fields.iter().all(|(name, _)| names.insert(name)) {
        return; // duplicate names: not an entry the store writes
    }
    // Below the "come back" bit, as the store keeps expiries.
    let expires_ms = patch.expires_ms & (u64::MAX >> 1);
    let stored = assemble(
        entry.expires_ms & (u64::MAX >> 1),
        entry.owner.as_deref(),
        &entry.cookie,
        entry.fields.iter().map(|(n, v)| (n.as_str(), v.as_slice())),
    );
    let mut record = Record {
        owner: patch.owner.clone().flatten(),
        ..Record::default()
    };
    for (name, value) in &patch.fields {
        if let Some(value) = value {
            record.fields.insert(name.clone(), value.clone().into());
        }
    }
    let named = patch.fields.iter().map(|(name, _)| name.clone()).collect();
    let owner = patch.owner.is_some();
    let rebuilt = stored
        .patched(&record, &named, owner, &patch.cookie, expires_ms)
        .expect("the store's own entry patches");
    let mut in_place = Entry::from_bytes(stored.bytes());
    let applied = in_place
        .patch_in_place(&record, &named, owner, &patch.cookie, expires_ms)
        .expect("the store's own entry patches in place or declines");
    if !applied {
        assert_eq!(in_place.bytes(), stored.bytes(), "untouched when declined");
        return;
    }
    assert_eq!(
        in_place.parts().expect("the store's own entry reads"),
        rebuilt.parts().expect("the store's own entry reads")
    );
    assert_eq!(in_place.expires_ms(), rebuilt.expires_ms());
    assert!(in_place.returned());
}

/// A Redis hash of any fields and values, as `HGETALL` answers it.
#[cfg(feature = "redis")]
pub fn redis_hash(entries: Vec<(Vec<u8>, Vec<u8>)>) -> Option<Record> {
    crate::store::redis::parse(entries)
}

/// SQLite rows, one per field, as the store's `SELECT` answers them.
#[cfg(feature = "sqlite")]
pub type SqliteRow = crate::store::sqlite::Row;

/// SQLite rows of any content: each session read or left out, never a panic.
#[cfg(feature = "sqlite")]
pub fn sqlite_rows(rows: Vec<SqliteRow>) -> Vec<(String, Option<Record>)> {
    crate::store::sqlite::parse(rows)
}

/// A PostgreSQL row as the store's `SELECT` answers it.
#[cfg(feature = "postgres")]
pub type PostgresRow = crate::store::postgres::Row;

/// A PostgreSQL row of any content: read or left out, never a panic.
#[cfg(feature = "postgres")]
pub fn postgres_row(row: PostgresRow) -> Option<(String, Record)> {
    crate::store::postgres::parse(row)
}

/// A cookie session's cookie value and its sealed payload, from any bytes: opening never
/// panics, and a payload that decodes seals into a value that opens to the same session.
#[cfg(feature = "cookie-store")]
pub fn sealed_cookie(bytes: &[u8]) {
    use crate::backend::sealed::{Sealer, decode_payload, encode_payload};
    let sealer = Sealer::new(
        &[b"fuzz secret".to_vec()],
        "connect.sid",
        &crate::CookieStore::new(),
    );
    let now = std::time::SystemTime::now();
    if let Ok(text) = std::str::from_utf8(bytes) {
        let _ = sealer.open(text, now);
    }
    if let Some((id, record)) = decode_payload(bytes)
        && let Ok(value) = sealer.seal(&id, &record)
    {
        let opened = sealer.open(&value, std::time::UNIX_EPOCH);
        assert_eq!(opened.map(|(id, _)| id).as_deref(), Some(id.as_str()));
        let again = encode_payload(&id, &record).expect("a decoded payload encodes");
        assert_eq!(decode_payload(&again), Some((id, record)));
    }
}
