//! The session-ID cookie: reading it from `Cookie` headers, express's signature format, and
//! building the `Set-Cookie` header.
//!
//! A signed value is `s:<id>.<mac>` where `<mac>` is the HMAC-SHA256 of `<id>` under the secret,
//! in standard base64 without padding — the format of express's `cookie-signature` — and the
//! whole value is percent-encoded as JavaScript's `encodeURIComponent` does. Verification tries
//! every configured secret and compares MACs in constant time.

use std::borrow::Cow;
use std::fmt::Write as _;
use std::time::SystemTime;

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD_NO_PAD;
use hmac::{Hmac, KeyInit, Mac};
use http::HeaderMap;
use http::header::COOKIE;
use percent_encoding::{AsciiSet, NON_ALPHANUMERIC, percent_decode_str, utf8_percent_encode};
use serde::{Deserialize, Serialize};
use sha2::Sha256;

/// The `SameSite` attribute.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum SameSite {
    /// `SameSite=Strict` (express: `true` or `'strict'`).
    Strict,
    /// `SameSite=Lax`.
    Lax,
    /// `SameSite=None`; browsers require `Secure` with it.
    None,
    /// `None` on a secure connection, `Lax` otherwise, decided when the session is created.
    Auto,
}

/// The `Priority` attribute.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum Priority {
    /// `Priority=Low`.
    Low,
    /// `Priority=Medium`, what browsers assume without the attribute.
    Medium,
    /// `Priority=High`.
    High,
}

/// The `Secure` attribute setting.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default, Serialize, Deserialize)]
pub enum Secure {
    /// Never set `Secure` (express's default).
    #[default]
    Never,
    /// Always set `Secure`; the cookie is then only sent on secure connections.
    Always,
    /// Set `Secure` when the connection that creates the session is secure.
    Auto,
}

/// `encodeURIComponent` leaves letters, digits and `-_.!~*'()` as they are.
const URI_COMPONENT: &AsciiSet = &NON_ALPHANUMERIC
    .remove(b'-')
    .remove(b'_')
    .remove(b'.')
    .remove(b'!')
    .remove(b'~')
    .remove(b'*')
    .remove(b'\'')
    .remove(b'(')
    .remove(b')');

/// The secrets that sign and verify session cookies: the first signs, all verify.
///
/// The middleware does this itself; the type is public for tools and tests that need to
/// produce or check a cookie as express-session would.
///
/// ```
/// use session::cookie::Signer;
///
/// let signer = Signer::new(&["new secret", "old secret"]).expect("at least one secret");
/// let value = signer.sign("some-id");
/// assert!(value.starts_with("s%3Asome-id."));
/// assert_eq!(signer.verify(&value).as_deref(), Some("some-id"));
/// ```
#[derive(Clone)]
pub struct Signer {
    keys: Vec<Hmac<Sha256>>,
}

impl std::fmt::Debug for Signer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Signer")
            .field("secrets", &self.keys.len())
            .finish()
    }
}

impl Signer {
    /// `None` when `secrets` is empty.
    pub fn new<S: AsRef<[u8]>>(secrets: &[S]) -> Option<Self> {
        let keys = secrets
            .iter()
            // HMAC accepts keys of any length, so this cannot fail.
            .filter_map(|s| Hmac::<Sha256>::new_from_slice(s.as_ref()).ok())
            .collect::<Vec<_>>();
        (!keys.is_empty()).then_some(Self { keys })
    }

    /// The cookie value for `id`: `s:<id>.<mac>`, percent-encoded.
    pub fn sign(&self, id: &str) -> String {
        let mut mac = self.keys[0].clone();
        mac.update(id.as_bytes());
        let tag = STANDARD_NO_PAD.encode(mac.finalize().into_bytes());
        let raw = format!("s:{id}.{tag}");
        utf8_percent_encode(&raw, URI_COMPONENT).to_string()
    }

    /// The id in a raw (still percent-encoded) cookie value, if one of the secrets signed it.
    /// MACs are compared in constant time.
    pub fn verify(&self, raw: &str) -> Option<String> {
        let value = decode_cookie_value(raw);
        let signed = value.strip_prefix("s:")?;
        let (id, tag) = signed.rsplit_once('.')?;
        let tag = STANDARD_NO_PAD.decode(tag).ok()?;
        self.keys
            .iter()
            .any(|key| {
                let mut mac = key.clone();
                mac.update(id.as_bytes());
                mac.verify_slice(&tag).is_ok()
            })
            .then(|| id.to_owned())
    }
}

/// Strips optional quotes and percent-decodes, keeping the raw value when it is not valid
/// percent-encoded UTF-8 (as express's `cookie` module does).
fn decode_cookie_value(raw: &str) -> Cow<'_, str> {
    let raw = raw
        .strip_prefix('"')
        .and_then(|r| r.strip_suffix('"'))
        .unwrap_or(raw);
    if !raw.contains('%') {
        return Cow::Borrowed(raw);
    }
    percent_decode_str(raw)
        .decode_utf8()
        .unwrap_or(Cow::Borrowed(raw))
}

/// The first value of the cookie `name` over all `Cookie` headers.
pub(crate) fn find<'h>(headers: &'h HeaderMap, name: &str) -> Option<&'h str> {
    headers
        .get_all(COOKIE)
        .iter()
        .filter_map(|h| h.to_str().ok())
        .flat_map(|h| h.split(';'))
        .find_map(|pair| {
            let (key, value) = pair.split_once('=')?;
            (key.trim() == name).then(|| value.trim())
        })
}

/// The attributes of one `Set-Cookie`, all decided.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Attributes<'a> {
    pub(crate) domain: Option<&'a str>,
    pub(crate) path: &'a str,
    pub(crate) expires: Option<SystemTime>,
    pub(crate) http_only: bool,
    pub(crate) secure: bool,
    pub(crate) same_site: Option<SameSite>,
    pub(crate) partitioned: bool,
    pub(crate) priority: Option<Priority>,
}

/// Builds a `Set-Cookie` value. `value` must already be cookie-safe.
pub(crate) fn set_cookie(name: &str, value: &str, attrs: &Attributes<'_>) -> String {
    let mut out = format!("{name}={value}; Path={}", attrs.path);
    if let Some(expires) = attrs.expires {
        let _ = write!(out, "; Expires={}", httpdate::fmt_http_date(expires));
    }
    if let Some(domain) = attrs.domain {
        let _ = write!(out, "; Domain={domain}");
    }
    if attrs.http_only {
        out.push_str("; HttpOnly");
    }
    if attrs.secure {
        out.push_str("; Secure");
    }
    match attrs.same_site {
        Some(SameSite::Strict) => out.push_str("; SameSite=Strict"),
        Some(SameSite::Lax) => out.push_str("; SameSite=Lax"),
        Some(SameSite::None) => out.push_str("; SameSite=None"),
        // Resolved when the session is created; an unresolved one sets nothing.
        Some(SameSite::Auto) | None => {}
    }
    match attrs.priority {
        Some(Priority::Low) => out.push_str("; Priority=Low"),
        Some(Priority::Medium) => out.push_str("; Priority=Medium"),
        Some(Priority::High) => out.push_str("; Priority=High"),
        None => {}
    }
    if attrs.partitioned {
        out.push_str("; Partitioned");
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use http::HeaderValue;

    // From express's own modules: 's:' + signature.sign('hello', 'tobiiscool'), and that
    // value as cookie.serialize writes it.
    const EXPRESS_SIGNED: &str = "s:hello.DGDUkGlIkCzPz+C0B064FNgHdEjox7ch8tOBGslZ5QI";
    const EXPRESS_COOKIE_VALUE: &str = "s%3Ahello.DGDUkGlIkCzPz%2BC0B064FNgHdEjox7ch8tOBGslZ5QI";

    #[test]
    fn signs_like_express() {
        let signer = Signer::new(&["tobiiscool"]).unwrap();
        let value = signer.sign("hello");
        assert_eq!(value, EXPRESS_COOKIE_VALUE);
        assert_eq!(signer.verify(&value).as_deref(), Some("hello"));
        assert_eq!(signer.verify(EXPRESS_SIGNED).as_deref(), Some("hello"));
    }

    #[test]
    fn rejects_unsigned_tampered_and_foreign_values() {
        let signer = Signer::new(&["tobiiscool"]).unwrap();
        let good = signer.sign("hello");
        for bad in [
            "hello",
            "s:hello",
            "s:hello.",
            "s:hellp.DGDUkGlIkCzPz+C0B064FNgHdEjox7ch8tOBGslZ5QI",
            "s:hello.DGDUkGlIkCzPz+C0B064FNgHdEjox7ch8tOBGslZ5QJ",
            "s:hello.DGDUkGlIkCzPz+C0B064FNgHdEjox7ch8tOBGslZ5QI=",
            "s:hello.!!!",
        ] {
            assert_eq!(signer.verify(bad), None, "{bad}");
        }
        let other = Signer::new(&["another secret"]).unwrap();
        assert_eq!(other.verify(&good), None);
    }

    #[test]
    fn every_secret_verifies_and_the_first_signs() {
        let old = Signer::new(&["old"]).unwrap();
        let rotated = Signer::new(&["new", "old"]).unwrap();
        assert_eq!(rotated.verify(&old.sign("a")).as_deref(), Some("a"));
        assert_eq!(
            Signer::new(&["new"])
                .unwrap()
                .verify(&rotated.sign("b"))
                .as_deref(),
            Some("b")
        );
        assert!(Signer::new::<&str>(&[]).is_none());
    }

    #[test]
    fn finds_the_first_cookie_over_all_headers() {
        let mut headers = HeaderMap::new();
        headers.append(COOKIE, HeaderValue::from_static("a=1; connect.sid=first"));
        headers.append(COOKIE, HeaderValue::from_static("connect.sid=second"));
        assert_eq!(find(&headers, "connect.sid"), Some("first"));
        assert_eq!(find(&headers, "sid"), None);
    }

    #[test]
    fn writes_every_attribute() {
        let attrs = Attributes {
            domain: Some("example.com"),
            path: "/app",
            expires: Some(SystemTime::UNIX_EPOCH),
            http_only: true,
            secure: true,
            same_site: Some(SameSite::None),
            partitioned: true,
            priority: Some(Priority::High),
        };
        assert_eq!(
            set_cookie("sid", "v", &attrs),
            "sid=v; Path=/app; Expires=Thu, 01 Jan 1970 00:00:00 GMT; Domain=example.com; \
             HttpOnly; Secure; SameSite=None; Priority=High; Partitioned"
        );
    }
}
