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
use percent_encoding::{AsciiSet, NON_ALPHANUMERIC, utf8_percent_encode};
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
    /// Always set `Secure`. As in express, the layer sends the cookie only on requests it
    /// counts as secure (see [`proxy`](crate::SessionLayerBuilder::proxy),
    /// [`DirectTls`](crate::DirectTls), [`AppSecure`](crate::AppSecure)); on any other it
    /// sends none, stores no new session (unlike express: nobody could come back with it),
    /// and says so once at WARN.
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
/// use sessionly::cookie::Signer;
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
        let mut raw = String::with_capacity(id.len() + 46);
        raw.push_str("s:");
        raw.push_str(id);
        raw.push('.');
        STANDARD_NO_PAD.encode_string(mac.finalize().into_bytes(), &mut raw);
        // As encodeURIComponent: the `:`, a `+` or `/` of the MAC, and whatever the id needs.
        let mut value = String::with_capacity(raw.len() + 8);
        value.extend(utf8_percent_encode(&raw, URI_COMPONENT));
        value
    }

    /// The id in a raw (still percent-encoded) cookie value, if one of the secrets signed it.
    /// MACs are compared in constant time.
    ///
    /// A value is percent-decoded first; one that does not decode (a `%` without two hex
    /// digits after it, or bytes that are not UTF-8) is read as it is, as express's `cookie`
    /// module does. Either way it must then be `s:<id>.<mac>` with a MAC one of the secrets
    /// gives for the id.
    pub fn verify(&self, raw: &str) -> Option<String> {
        let raw = unquote(raw);
        // What `sign` writes for an id that needs no escaping (every id `generate_id` makes)
        // is read in place; anything else is decoded first.
        if let Some((id, mac)) = split_encoded(raw) {
            return self.signed(id, &mac).then(|| id.to_owned());
        }
        let value = percent_decode(raw).unwrap_or(Cow::Borrowed(raw));
        let (id, mac) = split_signed(&value)?;
        self.signed(id, &mac).then(|| id.to_owned())
    }

    /// Whether one of the secrets gives `mac` for `id`.
    fn signed(&self, id: &str, mac: &[u8; MAC_LEN]) -> bool {
        self.keys.iter().any(|key| {
            let mut hmac = key.clone();
            hmac.update(id.as_bytes());
            hmac.verify_slice(mac).is_ok()
        })
    }
}

/// Bytes in an HMAC-SHA256 tag.
const MAC_LEN: usize = 32;
/// Characters of that tag in base64 without padding: six bits each.
const MAC_BASE64_LEN: usize = (MAC_LEN * 8).div_ceil(6);

/// Strips the optional quotes around a cookie value.
fn unquote(raw: &str) -> &str {
    raw.strip_prefix('"')
        .and_then(|r| r.strip_suffix('"'))
        .unwrap_or(raw)
}

/// A decoded `s:<id>.<mac>` split into the id and the MAC's bytes.
fn split_signed(value: &str) -> Option<(&str, [u8; MAC_LEN])> {
    let (id, mac) = value.strip_prefix("s:")?.rsplit_once('.')?;
    let mac: &[u8; MAC_BASE64_LEN] = mac.as_bytes().try_into().ok()?;
    Some((id, decode_mac(mac)?))
}

/// The same split, read from a still-encoded value whose id has no `%` and whose MAC has no
/// escapes but `%2B` and `%2F`. Then decoding the whole value would change nothing but the
/// `s:` and those characters, so this gives what decoding and [`split_signed`] would. `None`
/// when the value is not of that form, not only when it is malformed: the caller decodes it.
fn split_encoded(raw: &str) -> Option<(&str, [u8; MAC_LEN])> {
    let signed = raw
        .strip_prefix("s%3A")
        .or_else(|| raw.strip_prefix("s%3a"))
        .or_else(|| raw.strip_prefix("s:"))?;
    let (id, encoded) = signed.rsplit_once('.')?;
    if id.contains('%') {
        return None;
    }
    let mut mac = [0; MAC_BASE64_LEN];
    let mut len = 0;
    let mut bytes = encoded.bytes();
    while let Some(byte) = bytes.next() {
        let byte = match byte {
            b'%' => match [bytes.next()?, bytes.next()?] {
                [b'2', b'B' | b'b'] => b'+',
                [b'2', b'F' | b'f'] => b'/',
                _ => return None,
            },
            byte => byte,
        };
        *mac.get_mut(len)? = byte;
        len += 1;
    }
    if len != MAC_BASE64_LEN {
        return None;
    }
    Some((id, decode_mac(&mac)?))
}

fn decode_mac(base64: &[u8; MAC_BASE64_LEN]) -> Option<[u8; MAC_LEN]> {
    let mut mac = [0; MAC_LEN];
    let len = STANDARD_NO_PAD.decode_slice(base64, &mut mac).ok()?;
    (len == MAC_LEN).then_some(mac)
}

/// Percent-decodes as `decodeURIComponent` does, in one pass into a buffer of the raw
/// length (decoding only shortens). `None` for a `%` without two hex digits after it or a
/// result that is not UTF-8.
fn percent_decode(raw: &str) -> Option<Cow<'_, str>> {
    if !raw.contains('%') {
        return Some(Cow::Borrowed(raw));
    }
    let mut decoded = Vec::with_capacity(raw.len());
    let mut bytes = raw.bytes();
    while let Some(byte) = bytes.next() {
        decoded.push(match byte {
            b'%' => hex_digit(bytes.next()?)? << 4 | hex_digit(bytes.next()?)?,
            byte => byte,
        });
    }
    String::from_utf8(decoded).ok().map(Cow::Owned)
}

fn hex_digit(byte: u8) -> Option<u8> {
    match byte {
        b'0'..=b'9' => Some(byte - b'0'),
        b'a'..=b'f' => Some(byte - b'a' + 10),
        b'A'..=b'F' => Some(byte - b'A' + 10),
        _ => None,
    }
}

/// The first value of the cookie `name` over all `Cookie` headers.
///
/// The headers are read as bytes: browsers send every cookie of a site in one line, and an
/// unrelated cookie with a non-ASCII value must not hide this one. Only the value found has to
/// be UTF-8; if it is not, the lookup answers `None` (a fresh session), as it would for any
/// other value that does not verify.
pub(crate) fn find<'h>(headers: &'h HeaderMap, name: &str) -> Option<&'h str> {
    let value = headers
        .get_all(COOKIE)
        .iter()
        .flat_map(|h| h.as_bytes().split(|&b| b == b';'))
        .find_map(|pair| {
            let eq = pair.iter().position(|&b| b == b'=')?;
            let (key, value) = (&pair[..eq], &pair[eq + 1..]);
            (key.trim_ascii() == name.as_bytes()).then(|| value.trim_ascii())
        })?;
    std::str::from_utf8(value).ok()
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
    let mut out = String::with_capacity(name.len() + value.len() + attrs.path.len() + 96);
    out.push_str(name);
    out.push('=');
    out.push_str(value);
    out.push_str("; Path=");
    out.push_str(attrs.path);
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

/// Browsers cap a cookie's lifetime at 400 days (RFC 6265bis); Chromium shortens a longer one.
const BROWSER_LIFETIME_CAP: std::time::Duration =
    std::time::Duration::from_secs(400 * 24 * 60 * 60);

/// A cookie setting that browsers refuse or change on every connection, found by
/// [`CookieOptions::browser_warnings`](crate::CookieOptions::browser_warnings) and logged as a
/// warning when the layer is built. Each one was seen in Chromium (`tests/interop/browser.rs`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, thiserror::Error)]
#[non_exhaustive]
pub enum CookieWarning {
    /// `SameSite=None` with `Secure::Never`: browsers drop the cookie.
    #[error(
        "`SameSite=None` without `Secure`: browsers drop the cookie (use `Secure::Always`, or `Secure::Auto` behind TLS)"
    )]
    SameSiteNoneWithoutSecure,
    /// `SameSite::Auto` with `Secure::Never`: on a secure connection the cookie says
    /// `SameSite=None` without `Secure`, which browsers drop.
    #[error(
        "`SameSite::Auto` without `Secure`: on secure connections it sends `SameSite=None` without `Secure`, which browsers drop"
    )]
    SameSiteAutoWithoutSecure,
    /// `Partitioned` with `Secure::Never`: browsers drop the cookie.
    #[error("`Partitioned` without `Secure`: browsers drop the cookie")]
    PartitionedWithoutSecure,
    /// A name starting with `__Secure-` with `Secure::Never`: browsers drop the cookie.
    #[error("a `__Secure-` cookie name without `Secure`: browsers drop the cookie")]
    SecurePrefixWithoutSecure,
    /// A name starting with `__Host-` without `Secure`, with a `Domain`, or with a `Path`
    /// other than `/`: browsers drop the cookie.
    #[error(
        "a `__Host-` cookie name needs `Secure`, `Path=/` and no `Domain`: browsers drop the cookie"
    )]
    HostPrefixMisused,
    /// A `Domain` that is not a host name (a port, a scheme, a path, a space): browsers drop
    /// the cookie. Whether the domain matches the request's host is only known per request.
    #[error("the cookie `Domain` is not a host name: browsers drop the cookie")]
    InvalidDomain,
    /// A `maxAge` (or `expires`) beyond 400 days: browsers shorten the cookie to 400 days, so
    /// the browser forgets the session before the store does.
    #[error("a cookie lifetime over 400 days: browsers cap it at 400 days")]
    LifetimeOverBrowserCap,
}

/// What browsers would refuse or change in the cookie `options` make under `name`, on every
/// connection (a setting that only fails on plain HTTP, such as `Secure::Auto` with
/// `SameSite=None`, is not reported). A pure function of its inputs.
pub(crate) fn browser_warnings(
    name: &str,
    options: &crate::CookieOptions,
    now: SystemTime,
) -> Vec<CookieWarning> {
    let never_secure = options.secure == Secure::Never;
    let has_prefix = |prefix: &str| {
        name.get(..prefix.len())
            .is_some_and(|start| start.eq_ignore_ascii_case(prefix))
    };
    let lifetime = options.max_age_from(now);
    let checks = [
        (
            never_secure && options.same_site == Some(SameSite::None),
            CookieWarning::SameSiteNoneWithoutSecure,
        ),
        (
            never_secure && options.same_site == Some(SameSite::Auto),
            CookieWarning::SameSiteAutoWithoutSecure,
        ),
        (
            never_secure && options.partitioned,
            CookieWarning::PartitionedWithoutSecure,
        ),
        (
            never_secure && has_prefix("__Secure-"),
            CookieWarning::SecurePrefixWithoutSecure,
        ),
        (
            has_prefix("__Host-")
                && (never_secure || options.domain.is_some() || options.path != "/"),
            CookieWarning::HostPrefixMisused,
        ),
        (
            options.domain.as_deref().is_some_and(|domain| {
                domain.trim_start_matches('.').is_empty()
                    || domain.bytes().any(|b| {
                        b.is_ascii() && !(b.is_ascii_alphanumeric() || b"-._".contains(&b))
                    })
            }),
            CookieWarning::InvalidDomain,
        ),
        (
            lifetime.is_some_and(|lifetime| lifetime > BROWSER_LIFETIME_CAP),
            CookieWarning::LifetimeOverBrowserCap,
        ),
    ];
    checks
        .into_iter()
        .filter_map(|(applies, warning)| applies.then_some(warning))
        .collect()
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
    fn warns_of_what_browsers_drop_or_shorten() {
        use crate::CookieOptions;
        use CookieWarning as W;
        use std::time::Duration;
        let now = SystemTime::UNIX_EPOCH + Duration::from_secs(1_800_000_000);
        let day = Duration::from_secs(24 * 60 * 60);
        let base = CookieOptions::new;
        #[rustfmt::skip]
        let table: Vec<(&str, &str, CookieOptions, Vec<W>)> = vec![
            ("express defaults",          "connect.sid", base(), vec![]),
            ("None, never Secure",        "sid", base().same_site(SameSite::None), vec![W::SameSiteNoneWithoutSecure]),
            ("None, Secure",              "sid", base().same_site(SameSite::None).secure(Secure::Always), vec![]),
            ("None, Secure on TLS only",  "sid", base().same_site(SameSite::None).secure(Secure::Auto), vec![]),
            ("Auto, never Secure",        "sid", base().same_site(SameSite::Auto), vec![W::SameSiteAutoWithoutSecure]),
            ("Auto, Secure on TLS",       "sid", base().same_site(SameSite::Auto).secure(Secure::Auto), vec![]),
            ("Strict and Lax",            "sid", base().same_site(SameSite::Strict), vec![]),
            ("Partitioned, never Secure", "sid", base().partitioned(true), vec![W::PartitionedWithoutSecure]),
            ("Partitioned, Secure",       "sid", base().partitioned(true).secure(Secure::Always), vec![]),
            ("__Secure-, never Secure",   "__Secure-sid", base(), vec![W::SecurePrefixWithoutSecure]),
            ("__secure- in any case",     "__SECURE-sid", base(), vec![W::SecurePrefixWithoutSecure]),
            ("__Secure-, Secure",         "__Secure-sid", base().secure(Secure::Auto), vec![]),
            ("__Host-, never Secure",     "__Host-sid", base(), vec![W::HostPrefixMisused]),
            ("__Host-, a Domain",         "__Host-sid", base().secure(Secure::Always).domain("example.com"), vec![W::HostPrefixMisused]),
            ("__Host-, a Path",           "__Host-sid", base().secure(Secure::Always).path("/app"), vec![W::HostPrefixMisused]),
            ("__Host-, done right",       "__Host-sid", base().secure(Secure::Always), vec![]),
            ("a host name",               "sid", base().domain("example.com"), vec![]),
            ("a leading dot",             "sid", base().domain(".example.com"), vec![]),
            ("an internationalized name", "sid", base().domain("bücher.example"), vec![]),
            ("a port",                    "sid", base().domain("example.com:8080"), vec![W::InvalidDomain]),
            ("a scheme",                  "sid", base().domain("https://example.com"), vec![W::InvalidDomain]),
            ("only a dot",                "sid", base().domain("."), vec![W::InvalidDomain]),
            ("400 days",                  "sid", base().max_age(400 * day), vec![]),
            ("401 days",                  "sid", base().max_age(401 * day), vec![W::LifetimeOverBrowserCap]),
            ("expires in 2 years",        "sid", base().expires(now + 730 * day), vec![W::LifetimeOverBrowserCap]),
            ("all at once",               "__Host-sid", base().same_site(SameSite::None).partitioned(true).max_age(1000 * day),
                                          vec![W::SameSiteNoneWithoutSecure, W::PartitionedWithoutSecure, W::HostPrefixMisused, W::LifetimeOverBrowserCap]),
        ];
        for (case, name, options, expected) in table {
            assert_eq!(browser_warnings(name, &options, now), expected, "{case}");
        }
    }

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

    /// Ids a custom `genid` may produce: every character class `encodeURIComponent` escapes,
    /// and escapes that look like the ones the MAC uses.
    const ESCAPED_IDS: [&str; 12] = [
        "with space",
        "100%",
        "a+b",
        "a/b",
        "ünïcødé 日本 🍪",
        "a.b.c",
        ".",
        "",
        "%2B%2F",
        "s:x.y",
        "quote\"d;comma,",
        "%zz",
    ];

    fn mac_of(secret: &str, id: &str) -> String {
        let mut mac = Hmac::<Sha256>::new_from_slice(secret.as_bytes()).unwrap();
        mac.update(id.as_bytes());
        STANDARD_NO_PAD.encode(mac.finalize().into_bytes())
    }

    #[test]
    fn round_trips_ids_that_need_escaping() {
        let signer = Signer::new(&["tobiiscool"]).unwrap();
        for id in ESCAPED_IDS {
            let value = signer.sign(id);
            assert!(
                value
                    .bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b"-_.!~*'()%".contains(&b)),
                "{value} is cookie-safe"
            );
            assert_eq!(signer.verify(&value).as_deref(), Some(id), "{value}");
            // decodeURIComponent takes lower-case escapes and escapes of any character.
            let lower = value.replace("%3A", "%3a").replace("%2B", "%2b");
            assert_eq!(signer.verify(&lower).as_deref(), Some(id), "{lower}");
            let (signed, mac) = value.rsplit_once('.').unwrap();
            let over_escaped = format!("%73{}%2E{mac}", &signed[1..]);
            assert_eq!(
                signer.verify(&over_escaped).as_deref(),
                Some(id),
                "{over_escaped}"
            );
            let quoted = format!("\"{value}\"");
            assert_eq!(signer.verify(&quoted).as_deref(), Some(id), "{quoted}");
        }
    }

    #[test]
    fn reads_generated_ids_in_place_as_decoding_would() {
        let signer = Signer::new(&["tobiiscool"]).unwrap();
        // Enough ids that their MACs contain `+` and `/`, so `%2B` and `%2F`.
        for _ in 0..200 {
            let id = crate::generate_id();
            let value = signer.sign(&id);
            let in_place = split_encoded(&value).expect("a generated id is read in place");
            let decoded = percent_decode(&value).unwrap();
            assert_eq!(Some(in_place), split_signed(&decoded), "{value}");
            assert_eq!(in_place.0, id);
        }
        for id in ESCAPED_IDS
            .into_iter()
            .filter(|id| id.contains(['%', ' ', 'ü']))
        {
            assert_eq!(
                split_encoded(&signer.sign(id)),
                None,
                "{id} is decoded first"
            );
        }
    }

    #[test]
    fn keeps_a_value_that_does_not_decode_as_express_does() {
        // express's `cookie` module keeps a value it cannot percent-decode as it is; a custom
        // `genid` can make such an id, and a client can send its signed value unencoded.
        let signer = Signer::new(&["tobiiscool"]).unwrap();
        for id in ["a%zz", "a%FF", "100%", "%"] {
            let raw = format!("s:{id}.{}", mac_of("tobiiscool", id));
            assert_eq!(signer.verify(&raw).as_deref(), Some(id), "{raw}");
            assert_eq!(
                signer.verify(&signer.sign(id)).as_deref(),
                Some(id),
                "signed {id}"
            );
        }
    }

    #[test]
    fn rejects_malformed_values() {
        let signer = Signer::new(&["tobiiscool"]).unwrap();
        let mac = mac_of("tobiiscool", "hello");
        let encoded_mac = mac.replace('+', "%2B").replace('/', "%2F");
        // Each of these would verify if the malformed part were read leniently: the MAC is
        // right for the id as it stands.
        let bad_escape_mac = mac_of("tobiiscool", "a%zz");
        let invalid_utf8_mac = mac_of("tobiiscool", "a%FF");
        let cases = [
            ("bad escape in the id", format!("s%3Aa%zz.{bad_escape_mac}")),
            ("truncated escape in the id", format!("s%3Ahello%2.{mac}")),
            ("bad escape in the MAC", format!("s%3Ahello.{mac}%2G")),
            ("escape at the end", format!("s%3Ahello.{encoded_mac}%")),
            ("escape cut short", format!("s%3Ahello.{encoded_mac}%2")),
            (
                "invalid UTF-8, encoded",
                format!("s%3Aa%FF.{invalid_utf8_mac}"),
            ),
            ("lone continuation byte", format!("s%3A%80hello.{mac}")),
            ("no prefix", format!("hello.{encoded_mac}")),
            ("upper-case prefix", format!("S%3Ahello.{encoded_mac}")),
            ("other separator", format!("s%3Bhello.{encoded_mac}")),
            ("prefix without colon", format!("shello.{encoded_mac}")),
            ("no dot", format!("s%3Ahello{encoded_mac}")),
            ("no dot, nothing after", "s%3Ahello".to_owned()),
            (
                "MAC one character short",
                format!("s%3Ahello.{}", &mac[1..]),
            ),
            ("MAC one character long", format!("s%3Ahello.{mac}A")),
            (
                "MAC of 31 bytes",
                format!("s%3Ahello.{}", STANDARD_NO_PAD.encode([7; 31])),
            ),
            (
                "MAC of 33 bytes",
                format!("s%3Ahello.{}", STANDARD_NO_PAD.encode([7; 33])),
            ),
            ("empty MAC", "s%3Ahello.".to_owned()),
            ("padded MAC", format!("s%3Ahello.{encoded_mac}%3D")),
            ("MAC escape of a dot", format!("s%3Ahello.{encoded_mac}%2E")),
            ("empty", String::new()),
            ("only quotes", "\"\"".to_owned()),
            ("one quote", format!("\"s%3Ahello.{encoded_mac}")),
        ];
        for (what, value) in &cases {
            assert_eq!(signer.verify(value), None, "{what}: {value}");
        }
        // The well-formed value they were made from verifies, so the rejections are the
        // malformation's doing.
        assert_eq!(
            signer
                .verify(&format!("s%3Ahello.{encoded_mac}"))
                .as_deref(),
            Some("hello")
        );
    }

    #[test]
    fn verifies_with_a_later_secret() {
        let old = Signer::new(&["old"]).unwrap();
        let rotated = Signer::new(&["new", "old"]).unwrap();
        let three = Signer::new(&["newest", "new", "old"]).unwrap();
        let generated = crate::generate_id();
        for id in ESCAPED_IDS.into_iter().chain([generated.as_str()]) {
            let value = old.sign(id);
            assert_eq!(rotated.verify(&value).as_deref(), Some(id), "{value}");
            assert_eq!(three.verify(&value).as_deref(), Some(id), "{value}");
            assert_eq!(three.verify(&rotated.sign(id)).as_deref(), Some(id));
            assert_eq!(Signer::new(&["new"]).unwrap().verify(&value), None);
        }
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
    fn other_cookies_may_hold_any_bytes() {
        let cases: [(&[u8], Option<&str>); 6] = [
            (b"name=Jos\xc3\xa9; connect.sid=v", Some("v")),
            (b"connect.sid=v; name=Jos\xc3\xa9", Some("v")),
            (b"a=\xff\xfe; connect.sid= v ;b=1", Some("v")),
            (b"\xff=1; connect.sid=v", Some("v")),
            (b"connect.sid=\xff; connect.sid=v", None),
            (b"name=Jos\xc3\xa9", None),
        ];
        for (header, expected) in cases {
            let mut headers = HeaderMap::new();
            headers.append(COOKIE, HeaderValue::from_bytes(header).unwrap());
            assert_eq!(find(&headers, "connect.sid"), expected, "{header:?}");
        }
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

    proptest::proptest! {
        #![proptest_config(proptest::test_runner::Config::with_cases(2048))]

        /// Any id survives signing and verifying, under the signing secret and any other
        /// configured one, and no other secret verifies it.
        #[test]
        fn any_id_round_trips(id in ".*", other in "[a-z]{1,12}") {
            let secrets = ["first secret", "second secret"];
            let signer = Signer::new(&secrets).unwrap();
            let value = signer.sign(&id);
            proptest::prop_assert_eq!(signer.verify(&value), Some(id.clone()));
            let rotated = Signer::new(&["newest", secrets[0]]).unwrap();
            proptest::prop_assert_eq!(rotated.verify(&value), Some(id.clone()));
            let stranger = Signer::new(&[format!("not {other}")]).unwrap();
            proptest::prop_assert_eq!(stranger.verify(&value), None);
        }

        /// Changing one byte of a signed value never verifies as another id: it is rejected,
        /// or (a different spelling of the same percent-encoding) reads the same id.
        #[test]
        fn a_changed_byte_never_yields_another_id(
            id in "[A-Za-z0-9_-]{1,40}|.{1,20}",
            at in proptest::num::usize::ANY,
            byte in 0x20u8..0x7f,
        ) {
            let signer = Signer::new(&["secret"]).unwrap();
            let value = signer.sign(&id);
            let mut bytes = value.clone().into_bytes();
            let at = at % bytes.len();
            proptest::prop_assume!(bytes[at] != byte);
            bytes[at] = byte;
            let changed = String::from_utf8(bytes).unwrap();
            let verified = signer.verify(&changed);
            proptest::prop_assert!(verified.is_none() || verified.as_deref() == Some(id.as_str()),
                "{changed} verified as {verified:?}");
        }

        /// The session cookie is found whatever other cookies (any bytes a header may hold)
        /// stand before and after it.
        #[test]
        fn the_cookie_is_found_among_any_others(
            before in proptest::collection::vec(("[a-z]{1,8}", proptest::collection::vec(0x20u8..=0xff, 0..20)), 0..5),
            after in proptest::collection::vec(("[a-z]{1,8}", proptest::collection::vec(0x20u8..=0xff, 0..20)), 0..5),
        ) {
            let mut header = Vec::new();
            let mut push = |name: &str, value: &[u8]| {
                let value: Vec<u8> = value.iter().copied().filter(|&b| b != b';' && b != 0x7f).collect();
                header.extend_from_slice(name.as_bytes());
                header.push(b'=');
                header.extend_from_slice(&value);
                header.extend_from_slice(b"; ");
            };
            for (name, value) in &before {
                push(&format!("x{name}"), value);
            }
            push("connect.sid", b"s%3Aid.mac");
            for (name, value) in &after {
                push(&format!("y{name}"), value);
            }
            let mut headers = HeaderMap::new();
            headers.append(COOKIE, HeaderValue::from_bytes(&header).unwrap());
            proptest::prop_assert_eq!(find(&headers, "connect.sid"), Some("s%3Aid.mac"));
        }
    }
}
