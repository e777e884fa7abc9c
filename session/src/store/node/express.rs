//! express-session's stored format: a session as the JSON object express-session hands its
//! store, so that a Node app and this crate can share live sessions (feature `json`).
//!
//! ```json
//! {"cookie":{"originalMaxAge":86400000,"expires":"2026-12-02T10:00:00.000Z","httpOnly":true,"path":"/"},
//!  "user_id":"ada","passport":{"user":"ada"},"_sessionly":{"created":1796083200000}}
//! ```
//!
//! - `cookie` is express's cookie: `originalMaxAge`, `expires` (ISO 8601), and the attributes
//!   express keeps per session (`secure`, `httpOnly`, `domain`, `path`, `sameSite`,
//!   `partitioned`, `priority`), which become the session's [`CookieOverrides`].
//! - Every other key is a field, stored by its stored name. A field of the [`Json`](crate::Json)
//!   codec is its JSON value, which a Node handler reads as `req.session.<name>`; a key the
//!   schema does not know (what the Node app wrote: passport's `passport`, flash arrays) is a
//!   field too, kept byte for byte and written back unchanged. A field whose bytes are not JSON
//!   (the default [`Postcard`](crate::Postcard) codec) is stored as `{"$bytes":"<base64>"}`:
//!   kept, but opaque to Node.
//! - `_sessionly` holds what express's cookie has no place for: when the session was created
//!   and last touched, its absolute expiry and its owner. Node keeps it as it keeps any key it
//!   does not know. A record without it (written by Node) was created at its last touch.

use std::collections::BTreeMap;

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use bytes::Bytes;
use serde::{Deserialize, Serialize};
use serde_json::value::RawValue;

use super::super::Changed;
use crate::codec::CodecError;
use crate::cookie::{Priority, SameSite};
use crate::record::{CookieOverrides, CookieState, Fields, Record};

/// The key of the cookie object.
pub const COOKIE_KEY: &str = "cookie";
/// The key of what this crate keeps beside express's data.
pub const META_KEY: &str = "_sessionly";
/// The key that wraps a field whose bytes are not JSON.
const BYTES_KEY: &str = "$bytes";

/// express-session's cookie object, as `Cookie.prototype.toJSON` writes it.
#[derive(Debug, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
struct ExpressCookie {
    #[serde(default)]
    original_max_age: Option<serde_json::Number>,
    #[serde(default)]
    expires: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    secure: Option<bool>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    http_only: Option<bool>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    domain: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    path: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    same_site: Option<serde_json::Value>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    partitioned: Option<bool>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    priority: Option<String>,
}

/// What this crate keeps under [`META_KEY`].
#[derive(Debug, Default, Serialize, Deserialize)]
struct Meta {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    created: Option<u64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    touched: Option<u64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    absolute: Option<u64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    owner: Option<String>,
}

fn error(message: impl std::fmt::Display) -> CodecError {
    CodecError::new("express", message)
}

/// The JSON express-session stores for `record`.
pub fn to_json(record: &Record) -> Result<String, CodecError> {
    let mut object: BTreeMap<&str, Box<RawValue>> = BTreeMap::new();
    object.insert(COOKIE_KEY, raw(&cookie_json(&record.cookie))?);
    for (name, bytes) in &record.fields {
        if name == COOKIE_KEY || name == META_KEY {
            continue;
        }
        object.insert(name, field_json(bytes)?);
    }
    object.insert(META_KEY, raw(&meta(record))?);
    serde_json::to_string(&object).map_err(error)
}

/// One top-level value: the changed field `name` of `record` as JSON, or `None` if the record
/// no longer has it. For stores that patch single keys.
pub fn field_to_json(record: &Record, name: &str) -> Result<Option<Box<RawValue>>, CodecError> {
    record.fields.get(name).map(field_json).transpose()
}

/// The cookie object of `record`, as JSON.
pub fn cookie_to_json(record: &Record) -> Result<Box<RawValue>, CodecError> {
    raw(&cookie_json(&record.cookie))
}

/// What this crate keeps beside express's data, as JSON.
pub fn meta_to_json(record: &Record) -> Result<Box<RawValue>, CodecError> {
    raw(&meta(record))
}

/// The record in express-session's JSON `text`. `now_ms` stands in for what a record written
/// by Node does not say (when it was created and last touched).
pub fn from_json(text: &str, now_ms: u64) -> Result<Record, CodecError> {
    let object: BTreeMap<String, Box<RawValue>> = serde_json::from_str(text).map_err(error)?;
    let mut cookie: Option<ExpressCookie> = None;
    let mut meta = Meta::default();
    let mut fields = Fields::new();
    for (name, value) in object {
        match name.as_str() {
            COOKIE_KEY => cookie = Some(serde_json::from_str(value.get()).map_err(error)?),
            // A `_sessionly` another program mangled is left out: the record still reads.
            META_KEY => meta = serde_json::from_str(value.get()).unwrap_or_default(),
            _ => {
                let bytes = field_bytes(&value);
                fields.insert(name, bytes);
            }
        }
    }
    let cookie = cookie.ok_or_else(|| error("no cookie object"))?;
    let mut record = Record::new(cookie_state(&cookie, &meta, now_ms)?, fields);
    record.owner = meta.owner;
    Ok(record)
}

/// The stored JSON `stored` with the write of `record` applied: the cookie, the changed fields
/// (set, or removed where `record` lacks them) and this crate's data, the owner only if the
/// write changes it; every other key byte for byte as it was. For a patch ([`Changed::Fields`],
/// [`Changed::FieldsAndOwner`]); a whole write is [`to_json`].
pub fn patch(stored: &str, record: &Record, changed: Changed<'_>) -> Result<String, CodecError> {
    let mut object: BTreeMap<String, Box<RawValue>> =
        serde_json::from_str(stored).map_err(error)?;
    let stored_meta: Meta = object
        .get(META_KEY)
        .and_then(|raw| serde_json::from_str(raw.get()).ok())
        .unwrap_or_default();
    object.insert(COOKIE_KEY.to_owned(), raw(&cookie_json(&record.cookie))?);
    for name in changed.fields().into_iter().flatten() {
        if name == COOKIE_KEY || name == META_KEY {
            continue;
        }
        match record.fields.get(name) {
            Some(bytes) => {
                object.insert(name.clone(), field_json(bytes)?);
            }
            None => {
                object.remove(name);
            }
        }
    }
    let mut meta = meta(record);
    if !changed.writes_owner() {
        meta.owner = stored_meta.owner;
    }
    object.insert(META_KEY.to_owned(), raw(&meta)?);
    serde_json::to_string(&object).map_err(error)
}

/// When a stored session really expires, given when its store will drop it (`key_expiry_ms`):
/// the cookie's `expires`, unless the store's expiry is more than a second later — then Node
/// (which moves only the store's expiry on a touch, and rounds it up to whole seconds) touched
/// the session since its cookie was written, and the store's expiry is the one that holds.
/// The absolute expiry still caps it.
pub fn effective_expiry(cookie: &CookieState, key_expiry_ms: Option<u64>) -> Option<u64> {
    let expires = match (cookie.expires_ms, key_expiry_ms) {
        (Some(expires), Some(key)) if key > expires.saturating_add(1000) => Some(key),
        (expires, _) => expires,
    };
    match (expires, cookie.absolute_ms) {
        (Some(expires), Some(absolute)) => Some(expires.min(absolute)),
        (expires, absolute) => expires.or(absolute),
    }
}

/// connect-redis's and connect-pg-simple's rule for how long the store keeps a session, in
/// whole seconds from `now_ms`: to the cookie's expiry, rounded up; `default_secs` for a
/// session without one. Zero or less: it has expired. This crate caps it at the absolute
/// expiry too.
pub fn store_ttl_secs(cookie: &CookieState, now_ms: u64, default_secs: u64) -> i64 {
    // Seconds from now to `at`, rounded up (toward the future, also when `at` has passed).
    let until = |at: u64| -(now_ms as i64 - at as i64).div_euclid(1000);
    let ttl = match cookie.expires_ms {
        Some(expires) => until(expires),
        None => default_secs as i64,
    };
    match cookie.absolute_ms {
        Some(absolute) => ttl.min(until(absolute)),
        None => ttl,
    }
}

fn raw(value: &impl Serialize) -> Result<Box<RawValue>, CodecError> {
    serde_json::value::to_raw_value(value).map_err(error)
}

/// A field's bytes as a JSON value: as they are if they are JSON, else wrapped as base64.
fn field_json(bytes: &Bytes) -> Result<Box<RawValue>, CodecError> {
    match std::str::from_utf8(bytes)
        .ok()
        .and_then(|text| serde_json::from_str::<Box<RawValue>>(text).ok())
    {
        Some(json) => Ok(json),
        None => raw(&BTreeMap::from([(BYTES_KEY, STANDARD.encode(bytes))])),
    }
}

/// A field's bytes from its JSON value: a `{"$bytes": ...}` wrapper unwrapped, anything else
/// as its JSON text.
fn field_bytes(value: &RawValue) -> Bytes {
    #[derive(Deserialize)]
    #[serde(deny_unknown_fields)]
    struct Wrapped {
        #[serde(rename = "$bytes")]
        bytes: String,
    }
    if let Ok(Wrapped { bytes }) = serde_json::from_str::<Wrapped>(value.get())
        && let Ok(decoded) = STANDARD.decode(bytes)
    {
        return decoded.into();
    }
    Bytes::copy_from_slice(value.get().as_bytes())
}

fn meta(record: &Record) -> Meta {
    let cookie = &record.cookie;
    Meta {
        created: Some(cookie.created_ms),
        touched: Some(cookie.touched_ms),
        absolute: cookie.absolute_ms,
        owner: record.owner.clone(),
    }
}

fn cookie_json(state: &CookieState) -> ExpressCookie {
    let o = &state.overrides;
    ExpressCookie {
        original_max_age: state.original_max_age_ms.map(serde_json::Number::from),
        expires: state.expires_ms.map(iso_8601),
        secure: o.secure,
        http_only: o.http_only,
        domain: o.domain.clone(),
        path: o.path.clone(),
        same_site: o.same_site.and_then(|same_site| match same_site {
            SameSite::Strict => Some("strict".into()),
            SameSite::Lax => Some("lax".into()),
            SameSite::None => Some("none".into()),
            SameSite::Auto => None,
        }),
        partitioned: o.partitioned,
        priority: o.priority.map(|priority| {
            match priority {
                Priority::Low => "low",
                Priority::Medium => "medium",
                Priority::High => "high",
            }
            .to_owned()
        }),
    }
}

fn cookie_state(
    cookie: &ExpressCookie,
    meta: &Meta,
    now_ms: u64,
) -> Result<CookieState, CodecError> {
    let expires_ms = match &cookie.expires {
        Some(text) => {
            Some(parse_iso_8601(text).ok_or_else(|| error("`expires` is not an ISO 8601 date"))?)
        }
        None => None,
    };
    // express lets `originalMaxAge` be negative (an expired cookie) or fractional.
    let original_max_age_ms = cookie
        .original_max_age
        .as_ref()
        .and_then(serde_json::Number::as_f64)
        .filter(|ms| ms.is_finite())
        .map(|ms| ms.max(0.0) as u64);
    // A record Node wrote was last touched when its expiry was set.
    let touched = meta
        .touched
        .unwrap_or_else(|| match (expires_ms, original_max_age_ms) {
            (Some(expires), Some(max_age)) => expires.saturating_sub(max_age),
            _ => now_ms,
        });
    let same_site = match &cookie.same_site {
        Some(serde_json::Value::Bool(true)) => Some(SameSite::Strict),
        Some(serde_json::Value::String(text)) => match text.to_ascii_lowercase().as_str() {
            "strict" => Some(SameSite::Strict),
            "lax" => Some(SameSite::Lax),
            "none" => Some(SameSite::None),
            _ => None,
        },
        _ => None,
    };
    let priority =
        cookie
            .priority
            .as_deref()
            .and_then(|text| match text.to_ascii_lowercase().as_str() {
                "low" => Some(Priority::Low),
                "medium" => Some(Priority::Medium),
                "high" => Some(Priority::High),
                _ => None,
            });
    Ok(CookieState {
        original_max_age_ms,
        expires_ms,
        created_ms: meta.created.unwrap_or(touched),
        touched_ms: touched,
        absolute_ms: meta.absolute,
        overrides: CookieOverrides {
            secure: cookie.secure,
            http_only: cookie.http_only,
            domain: cookie.domain.clone(),
            path: cookie.path.clone(),
            same_site,
            partitioned: cookie.partitioned,
            priority,
        },
    })
}

/// `ms` since the epoch as JavaScript's `Date.prototype.toJSON` writes it:
/// `2026-12-02T10:00:00.000Z`.
fn iso_8601(ms: u64) -> String {
    let (days, rest) = (ms / 86_400_000, ms % 86_400_000);
    let (year, month, day) = civil_from_days(days as i64);
    format!(
        "{year:04}-{month:02}-{day:02}T{:02}:{:02}:{:02}.{:03}Z",
        rest / 3_600_000,
        rest / 60_000 % 60,
        rest / 1000 % 60,
        rest % 1000
    )
}

/// An ISO 8601 UTC time as JavaScript writes and reads it (`YYYY-MM-DDTHH:MM:SS[.sss]Z`), in ms
/// since the epoch; `None` for anything else or a time before 1970.
fn parse_iso_8601(text: &str) -> Option<u64> {
    let text = text.strip_suffix('Z')?;
    let (date, time) = text.split_once('T')?;
    let mut date = date.split('-');
    let (year, month, day) = (date.next()?, date.next()?, date.next()?);
    if date.next().is_some() || year.len() != 4 || month.len() != 2 || day.len() != 2 {
        return None;
    }
    let (hms, fraction) = time.split_once('.').unwrap_or((time, ""));
    let mut hms = hms.split(':');
    let (hour, minute, second) = (hms.next()?, hms.next()?, hms.next()?);
    if hms.next().is_some() || [hour, minute, second].iter().any(|part| part.len() != 2) {
        return None;
    }
    let number = |digits: &str| -> Option<u64> {
        digits
            .bytes()
            .all(|b| b.is_ascii_digit())
            .then(|| digits.parse().ok())?
    };
    let (year, month, day) = (number(year)?, number(month)?, number(day)?);
    let (hour, minute, second) = (number(hour)?, number(minute)?, number(second)?);
    if !(1..=12).contains(&month) || day == 0 || day > days_in_month(year, month) {
        return None;
    }
    if hour > 23 || minute > 59 || second > 59 || year < 1970 {
        return None;
    }
    let millis = match fraction.len() {
        0 => 0,
        1..=9 => number(fraction)? * 1000 / 10u64.pow(fraction.len() as u32),
        _ => return None,
    };
    let days = u64::try_from(days_from_civil(year as i64, month, day)).ok()?;
    Some(((days * 24 + hour) * 60 + minute) * 60_000 + second * 1000 + millis)
}

fn days_in_month(year: u64, month: u64) -> u64 {
    match month {
        2 if year.is_multiple_of(4) && (!year.is_multiple_of(100) || year.is_multiple_of(400)) => {
            29
        }
        2 => 28,
        4 | 6 | 9 | 11 => 30,
        _ => 31,
    }
}

/// Days since 1970-01-01 of a proleptic Gregorian date (Howard Hinnant's algorithm).
fn days_from_civil(year: i64, month: u64, day: u64) -> i64 {
    let year = if month <= 2 { year - 1 } else { year };
    let era = year.div_euclid(400);
    let year_of_era = year - era * 400;
    let month = month as i64;
    let day_of_year = (153 * (month + if month > 2 { -3 } else { 9 }) + 2) / 5 + day as i64 - 1;
    let day_of_era = year_of_era * 365 + year_of_era / 4 - year_of_era / 100 + day_of_year;
    era * 146_097 + day_of_era - 719_468
}

/// The date of a day since 1970-01-01 (the inverse of `days_from_civil`).
fn civil_from_days(days: i64) -> (i64, u64, u64) {
    let days = days + 719_468;
    let era = days.div_euclid(146_097);
    let day_of_era = days - era * 146_097;
    let year_of_era =
        (day_of_era - day_of_era / 1460 + day_of_era / 36_524 - day_of_era / 146_096) / 365;
    let day_of_year = day_of_era - (365 * year_of_era + year_of_era / 4 - year_of_era / 100);
    let mp = (5 * day_of_year + 2) / 153;
    let day = (day_of_year - (153 * mp + 2) / 5 + 1) as u64;
    let month = if mp < 10 { mp + 3 } else { mp - 9 } as u64;
    let year = year_of_era + era * 400 + i64::from(month <= 2);
    (year, month, day)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dates_read_and_write_as_javascript_does() {
        // Each pair: what `new Date(ms).toJSON()` gives in Node.
        for (ms, text) in [
            (0, "1970-01-01T00:00:00.000Z"),
            (951_782_400_000, "2000-02-29T00:00:00.000Z"),
            (1_796_083_200_123, "2026-12-01T00:00:00.123Z"),
            (4_102_444_799_999, "2099-12-31T23:59:59.999Z"),
            (4_102_444_800_000, "2100-01-01T00:00:00.000Z"),
            (4_107_542_400_000, "2100-03-01T00:00:00.000Z"),
        ] {
            assert_eq!(iso_8601(ms), text);
            assert_eq!(parse_iso_8601(text), Some(ms), "{text}");
        }
        assert_eq!(
            parse_iso_8601("2026-12-01T00:00:00Z"),
            Some(1_796_083_200_000)
        );
        assert_eq!(
            parse_iso_8601("2026-12-01T00:00:00.5Z"),
            Some(1_796_083_200_500)
        );
        for bad in [
            "",
            "2026-12-01",
            "2026-12-01T00:00:00",
            "2026-13-01T00:00:00.000Z",
            "2026-02-29T00:00:00.000Z",
            "2026-12-01T24:00:00.000Z",
            "1969-12-31T23:59:59.999Z",
            "2026-12-01T00:00:00.000+01:00",
            "+02026-12-01T00:00:00.000Z",
            "2026-1-01T00:00:00.000Z",
        ] {
            assert_eq!(parse_iso_8601(bad), None, "{bad}");
        }
    }

    #[test]
    fn a_record_written_by_node_reads_with_its_unknown_keys() {
        let node = r#"{"cookie":{"originalMaxAge":86400000,"expires":"2026-12-02T00:00:00.000Z","secure":false,"httpOnly":true,"path":"/","sameSite":true},"passport":{"user":"ada"},"flash":{"info":["hi \"there\""]},"count":12345678901234567890}"#;
        let record = from_json(node, 0).unwrap();
        assert_eq!(record.cookie.expires_ms, Some(1_796_169_600_000));
        assert_eq!(record.cookie.original_max_age_ms, Some(86_400_000));
        assert_eq!(record.cookie.touched_ms, 1_796_083_200_000);
        assert_eq!(record.cookie.overrides.same_site, Some(SameSite::Strict));
        assert_eq!(record.cookie.overrides.secure, Some(false));
        assert_eq!(&record.fields["passport"][..], br#"{"user":"ada"}"#);
        assert_eq!(&record.fields["count"][..], b"12345678901234567890");

        // Written back: the unknown keys byte for byte, the cookie as express writes it.
        let json = to_json(&record).unwrap();
        assert!(json.contains(r#""passport":{"user":"ada"}"#), "{json}");
        assert!(
            json.contains(r#""flash":{"info":["hi \"there\""]}"#),
            "{json}"
        );
        assert!(json.contains(r#""count":12345678901234567890"#), "{json}");
        assert!(
            json.contains(r#""expires":"2026-12-02T00:00:00.000Z""#),
            "{json}"
        );
        assert!(json.contains(r#""originalMaxAge":86400000"#), "{json}");
        let again = from_json(&json, 0).unwrap();
        assert_eq!(again, record);
    }

    #[test]
    fn non_json_fields_are_wrapped_and_come_back() {
        let mut fields = Fields::new();
        fields.insert("bin".into(), Bytes::from_static(&[0xF1, 0, 1, 2, 0xFF]));
        fields.insert("json".into(), Bytes::from_static(b"[1,2]"));
        let mut record = Record::new(CookieState::new(None, std::time::SystemTime::now()), fields);
        record.owner = Some("ada".into());
        let json = to_json(&record).unwrap();
        assert!(json.contains(r#""bin":{"$bytes":"8QABAv8="}"#), "{json}");
        assert!(json.contains(r#""expires":null"#), "{json}");
        assert_eq!(from_json(&json, 0).unwrap(), record);
    }

    #[test]
    fn a_patch_writes_the_changed_keys_and_keeps_the_others() {
        let stored = r#"{"cookie":{"originalMaxAge":null,"expires":null},"passport":{"user":"ada"},"views":1,"gone":true,"_sessionly":{"owner":"ada"}}"#;
        let mut record = from_json(stored, 5).unwrap();
        record
            .fields
            .insert("views".into(), Bytes::from_static(b"2"));
        record.fields.remove("gone");
        record
            .fields
            .insert("passport".into(), Bytes::from_static(b"\"stale\""));
        record.owner = None;
        let names = ["views".to_owned(), "gone".to_owned()].into();
        let patched = patch(stored, &record, Changed::Fields(&names)).unwrap();
        let back = from_json(&patched, 5).unwrap();
        assert_eq!(&back.fields["views"][..], b"2");
        assert!(!back.fields.contains_key("gone"));
        assert_eq!(
            &back.fields["passport"][..],
            br#"{"user":"ada"}"#,
            "not changed, not written"
        );
        assert_eq!(
            back.owner.as_deref(),
            Some("ada"),
            "the owner did not change"
        );
        let patched = patch(stored, &record, Changed::FieldsAndOwner(&names)).unwrap();
        assert_eq!(from_json(&patched, 5).unwrap().owner, None);
    }

    #[test]
    #[allow(clippy::field_reassign_with_default)] // One field at a time is the point.
    fn store_lifetimes_follow_connect_redis() {
        let mut cookie = CookieState::default();
        cookie.expires_ms = Some(10_000);
        for (now, ttl) in [
            (0, 10),
            (1, 10),
            (999, 10),
            (1000, 9),
            (9_999, 1),
            (10_000, 0),
            (12_500, -2),
        ] {
            assert_eq!(store_ttl_secs(&cookie, now, 86_400), ttl, "at {now}");
        }
        cookie.absolute_ms = Some(5_000);
        assert_eq!(store_ttl_secs(&cookie, 0, 86_400), 5);
        cookie.expires_ms = None;
        assert_eq!(store_ttl_secs(&cookie, 0, 86_400), 5);
        cookie.absolute_ms = None;
        assert_eq!(store_ttl_secs(&cookie, 0, 86_400), 86_400);

        // Node moved only the store's expiry: that one holds; rounding alone does not count.
        let mut cookie = CookieState::default();
        cookie.expires_ms = Some(10_000);
        assert_eq!(effective_expiry(&cookie, Some(10_999)), Some(10_000));
        assert_eq!(effective_expiry(&cookie, Some(60_000)), Some(60_000));
        assert_eq!(effective_expiry(&cookie, None), Some(10_000));
        cookie.absolute_ms = Some(30_000);
        assert_eq!(effective_expiry(&cookie, Some(60_000)), Some(30_000));
    }

    #[test]
    fn malformed_records_are_errors() {
        for bad in [
            "",
            "[]",
            "{}",
            r#"{"cookie":{"expires":"soon"}}"#,
            r#"{"cookie":5}"#,
        ] {
            assert!(from_json(bad, 0).is_err(), "{bad}");
        }
    }
}
