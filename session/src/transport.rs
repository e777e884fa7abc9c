//! Where a request carries its session id, and where the response hands out a new one: the
//! cookie (browsers), a request header (API, mobile and command-line clients), or both.
//!
//! A token is the cookie's value, byte for byte (the signed id, or a `CookieStore`'s sealed
//! session), verified with the same secrets, so a session can move between the two. Which
//! wins on a request that carries both, and what a header client is told, is
//! [`Transport`]'s documentation; [`presented`] is the reading of the header, a pure function
//! tested as a table.

use std::time::SystemTime;

use http::header::{AUTHORIZATION, CACHE_CONTROL, VARY};
use http::{HeaderMap, HeaderName, HeaderValue};

/// The longest token read: the longest cookie value this crate makes (a signed id is far
/// shorter). Longer ones are no session, unread.
const MAX_TOKEN_LEN: usize = 4096;

#[cfg(feature = "cookie-store")]
const _: () = assert!(crate::store::MAX_COOKIE_LEN <= MAX_TOKEN_LEN);

/// Where a [`SessionLayer`](crate::SessionLayer) reads the session id and hands out new ones;
/// set with [`SessionLayerBuilder::transport`](crate::SessionLayerBuilder::transport). The
/// default is [`Cookie`](Transport::Cookie), as in express-session.
///
/// With a token header, each request is judged by how it came:
///
/// - A request that carries the token header is a **header request**: its token alone names
///   its session (a cookie beside it is ignored), and its response hands out the session's
///   token in the response header, never a `Set-Cookie`. A token that does not verify (tampered,
///   signed by another app's secret, over 4,096 bytes, in
///   several headers at once) names no session, exactly as a bad cookie does: the request
///   gets a new one. A client without a token yet sends the header empty
///   (`Session-Token:`, or `Authorization: Bearer` with nothing after it) to be given one.
/// - Any other request is a **cookie request**, as without this option, and gets no token in
///   its response (unless [`TokenHeader::to_cookie_clients`] says so).
///
/// A response hands out the token wherever a cookie request's response would set the cookie:
/// when the session is new and saved, after [`regenerate`](crate::TypedSession::regenerate) or
/// [`cycle_id`](crate::TypedSession::cycle_id), on every response with `rolling`, and (for the
/// cookie store) whenever the session changed. With it goes `<name>-Expires`, the session's
/// expiry as an HTTP date, when it has one. When the session ends
/// ([`destroy`](crate::TypedSession::destroy), or an `unset` that destroys), the response
/// carries the token header **empty** and `<name>-Expires` at the Unix epoch: the client must
/// forget its token. The stored session's lifetime governs a token as it governs a cookie:
/// an expired session is gone whatever the client holds.
///
/// Two rules of cookies do not bind tokens: the cookie's `Path` (a header request is served on
/// any path) and `Secure` (a token is handed out over plain HTTP too: the client, not a
/// browser, decides where it sends it; serve an API over HTTPS). A response that hands out or
/// voids a token is `Cache-Control: no-store`, and every response to a header request varies
/// with the token header (`Vary`), so a shared cache never serves one client's answer to
/// another.
///
/// Header requests cannot be forged by another site (a browser sends no custom header or
/// `Authorization` across origins without the app's CORS consent), so CSRF checks may skip
/// them: the [`Carrier`] extractor tells which a request is.
#[derive(Debug, Clone, Default)]
#[non_exhaustive]
pub enum Transport {
    /// The session cookie only (the default).
    #[default]
    Cookie,
    /// The token header only: no request is read by its cookie, no response sets one.
    Header(TokenHeader),
    /// Either: a request with the token header is a header request, any other a cookie one.
    CookieOrHeader(TokenHeader),
}

impl Transport {
    /// The token header, if requests may carry one.
    pub(crate) fn header(&self) -> Option<&TokenHeader> {
        match self {
            Transport::Cookie => None,
            Transport::Header(header) | Transport::CookieOrHeader(header) => Some(header),
        }
    }
}

/// The header a session token travels in: where requests carry it, and the response header
/// that hands it out.
///
/// ```
/// use sessionly::{SessionLayer, TokenHeader, Transport};
///
/// // `Authorization: Bearer <token>` in, `Session-Token: <token>` out; browsers keep cookies.
/// let layer = SessionLayer::builder()
///     .secret("a long random secret, 32 bytes or more")
///     .transport(Transport::CookieOrHeader(TokenHeader::bearer()))
///     .build()
///     .unwrap();
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TokenHeader {
    /// `None`: `Authorization: Bearer`.
    request: Option<HeaderName>,
    response: HeaderName,
    expires: HeaderName,
    to_cookie_clients: bool,
}

impl TokenHeader {
    /// Requests carry `Authorization: Bearer <token>`; responses hand tokens out in
    /// `Session-Token` (and the expiry in `Session-Token-Expires`). One layer of an app can
    /// use `Authorization`; a second namespace of sessions needs a [`named`](Self::named)
    /// header of its own.
    pub fn bearer() -> Self {
        Self {
            request: None,
            response: HeaderName::from_static("session-token"),
            expires: HeaderName::from_static("session-token-expires"),
            to_cookie_clients: false,
        }
    }

    /// The header `name` both ways: requests carry `name: <token>`, responses hand tokens out
    /// in it (and the expiry in `<name>-Expires`). A header with a meaning of its own
    /// (`Cookie`, `Set-Cookie`, `Authorization`, `Vary`, …) is refused at `build()`
    /// ([`ConfigError::ReservedTokenHeader`](crate::ConfigError::ReservedTokenHeader)).
    ///
    /// ```
    /// use http::HeaderName;
    /// use sessionly::TokenHeader;
    ///
    /// let header = TokenHeader::named(HeaderName::from_static("x-cart-token"));
    /// ```
    pub fn named(name: HeaderName) -> Self {
        let expires = format!("{}-expires", name.as_str());
        Self {
            // A header name with `-expires` added is a header name still, unless too long.
            expires: HeaderName::try_from(expires)
                .unwrap_or(HeaderName::from_static("session-token-expires")),
            response: name.clone(),
            request: Some(name),
            to_cookie_clients: false,
        }
    }

    /// Also hands the token out to cookie requests, beside their `Set-Cookie` (default
    /// `false`): for a web page that passes its session on to a native app. The page's
    /// script can then read the session's token, which the `HttpOnly` cookie keeps from it
    /// otherwise.
    pub fn to_cookie_clients(mut self, yes: bool) -> Self {
        self.to_cookie_clients = yes;
        self
    }

    /// The response header that hands tokens out (for `Access-Control-Expose-Headers`).
    pub fn response_header(&self) -> &HeaderName {
        &self.response
    }

    /// The response header that carries the session's expiry.
    pub fn expires_header(&self) -> &HeaderName {
        &self.expires
    }

    /// The request header that carries tokens (`Authorization` for [`bearer`](Self::bearer)).
    pub fn request_header(&self) -> &HeaderName {
        self.request.as_ref().unwrap_or(&AUTHORIZATION)
    }

    pub(crate) fn hands_out_to_cookie_clients(&self) -> bool {
        self.to_cookie_clients
    }

    /// Whether requests carry the token as `Authorization: Bearer`.
    #[cfg(feature = "testing")]
    pub(crate) fn is_bearer(&self) -> bool {
        self.request.is_none()
    }

    /// A header this one may not be: one that carries cookies or the app's credentials, or
    /// that caches read (tokens and their meaning would be mixed up).
    pub(crate) fn reserved(&self) -> Option<&HeaderName> {
        use http::header::{COOKIE, PROXY_AUTHORIZATION, SET_COOKIE};
        let reserved = [
            COOKIE,
            SET_COOKIE,
            AUTHORIZATION,
            PROXY_AUTHORIZATION,
            VARY,
            CACHE_CONTROL,
        ];
        let mut named = self.request.iter().chain([&self.response, &self.expires]);
        named.find(|name| reserved.contains(name))
    }
}

/// How a request's session travels: in the cookie, or in the token header (see
/// [`Transport`]). An extractor: a handler or a `from_fn` layer behind the session layer takes
/// it as an argument, without loading the session.
///
/// ```
/// use axum::extract::Request;
/// use axum::http::StatusCode;
/// use axum::middleware::Next;
/// use axum::response::{IntoResponse, Response};
/// use sessionly::Carrier;
///
/// /// A CSRF check needs only cookie requests: a browser attaches a cookie to another site's
/// /// forged request, but never a token header.
/// async fn csrf(carrier: Carrier, request: Request, next: Next) -> Response {
///     let forgeable = carrier == Carrier::Cookie && !request.method().is_safe();
///     if forgeable && request.headers().get("x-csrf-token").is_none() {
///         return StatusCode::FORBIDDEN.into_response();
///     }
///     next.run(request).await
/// }
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Carrier {
    /// The session cookie: a browser, which sends it on cross-site requests too (CSRF applies).
    Cookie,
    /// The token header: a client that attaches it on purpose (CSRF does not apply).
    Header,
}

impl Transport {
    /// How a request with `headers` carries its session, and what its token header holds
    /// (read once: [`Absent`](Presented::Absent) when requests carry no token header).
    pub(crate) fn carrier<'h>(&self, headers: &'h HeaderMap) -> (Carrier, Presented<'h>) {
        let Some(header) = self.header() else {
            return (Carrier::Cookie, Presented::Absent);
        };
        let presented = presented(headers, header);
        let cookie = matches!(self, Transport::CookieOrHeader(_)) && presented == Presented::Absent;
        let carrier = if cookie {
            Carrier::Cookie
        } else {
            Carrier::Header
        };
        (carrier, presented)
    }
}

/// What a request's token header holds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Presented<'h> {
    /// No token header: a cookie request (the `Authorization` header with another scheme is
    /// not a token header).
    Absent,
    /// A header request with no token to use: empty (asking for one), oversized, not text, or
    /// several headers.
    NoToken(&'static str),
    /// A header request with a token, still to be verified.
    Token(&'h str),
}

/// Reads the token header of a request.
pub(crate) fn presented<'h>(headers: &'h HeaderMap, header: &TokenHeader) -> Presented<'h> {
    let mut values = headers.get_all(header.request_header()).iter();
    let Some(value) = values.next() else {
        return Presented::Absent;
    };
    let several = values.next().is_some();
    let value = match (&header.request, value.to_str()) {
        (_, _) if several => return Presented::NoToken("several token headers"),
        (_, Err(_)) => return Presented::NoToken("a token header that is not text"),
        (Some(_), Ok(value)) => value,
        (None, Ok(value)) => match bearer(value) {
            Some(token) => token,
            // Basic, Digest, …: the app's own authorization, not a session token.
            None => return Presented::Absent,
        },
    };
    let token = value.trim_matches([' ', '\t']);
    if token.is_empty() {
        Presented::NoToken("an empty token header")
    } else if token.len() > MAX_TOKEN_LEN {
        Presented::NoToken("a token longer than any this layer hands out")
    } else {
        Presented::Token(token)
    }
}

/// The credentials of an `Authorization` value in the `Bearer` scheme (any case), possibly
/// empty; `None` for another scheme.
fn bearer(value: &str) -> Option<&str> {
    let value = value.trim_start_matches([' ', '\t']);
    let scheme_end = value.find([' ', '\t']).unwrap_or(value.len());
    let (scheme, rest) = value.split_at(scheme_end);
    scheme.eq_ignore_ascii_case("bearer").then_some(rest)
}

/// Hands a token out on a response: the session's `token` and its `expires`, or, for `None`,
/// the word that the client's token is void (an empty header, expired at the epoch). False if
/// the response already carried a token in that header (another session layer's), which this
/// one replaced.
pub(crate) fn hand_out(
    headers: &mut HeaderMap,
    header: &TokenHeader,
    token: Option<(&str, Option<SystemTime>)>,
) -> bool {
    let (token, expires) = match token {
        Some((token, expires)) => (token, expires),
        None => ("", Some(SystemTime::UNIX_EPOCH)),
    };
    let Ok(value) = HeaderValue::from_str(token) else {
        tracing::error!("session token is not a valid header value");
        return true;
    };
    let alone = headers.insert(header.response.clone(), value).is_none();
    match expires {
        Some(expires) => {
            let date = httpdate::fmt_http_date(expires);
            if let Ok(date) = HeaderValue::try_from(date) {
                headers.insert(header.expires.clone(), date);
            }
        }
        None => {
            headers.remove(&header.expires);
        }
    }
    // The token is this client's alone: no cache may keep the response (a token response is
    // `no-store`, whatever else the app said), and it varies with the request's token.
    varies_with(headers, header);
    if !lists(headers, CACHE_CONTROL, "no-store") {
        headers.append(CACHE_CONTROL, HeaderValue::from_static("no-store"));
    }
    alone
}

/// Says that a response varies with the request's token header (once).
pub(crate) fn varies_with(headers: &mut HeaderMap, header: &TokenHeader) {
    let vary = header.request_header().as_str();
    if !lists(headers, VARY, vary)
        && !lists(headers, VARY, "*")
        && let Ok(vary) = HeaderValue::from_str(vary)
    {
        headers.append(VARY, vary);
    }
}

/// Whether a header named `name` lists `item` (case-insensitively) as one of its
/// comma-separated items, unqualified (`no-cache`, not `no-cache="x"`).
pub(crate) fn lists(headers: &HeaderMap, name: HeaderName, item: &str) -> bool {
    headers.get_all(name).iter().any(|v| {
        v.to_str().is_ok_and(|v| {
            v.split(',')
                .any(|listed| listed.trim().eq_ignore_ascii_case(item))
        })
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn headers(pairs: &[(&'static str, &str)]) -> HeaderMap {
        let mut headers = HeaderMap::new();
        for (name, value) in pairs {
            headers.append(
                HeaderName::from_static(name),
                HeaderValue::from_bytes(value.as_bytes()).unwrap(),
            );
        }
        headers
    }

    /// What a case is called, the header configured, the request's headers, and what it
    /// presents.
    type Case<'a> = (
        &'a str,
        &'a TokenHeader,
        &'a [(&'static str, &'a str)],
        Presented<'a>,
    );

    #[test]
    fn what_a_request_presents() {
        use Presented::*;
        let long = format!("Bearer {}", "a".repeat(MAX_TOKEN_LEN + 1));
        let longest = "a".repeat(MAX_TOKEN_LEN);
        let longest_bearer = format!("Bearer {longest}");
        let (bearer, named) = (
            TokenHeader::bearer(),
            TokenHeader::named(HeaderName::from_static("session-token")),
        );
        let auth = "authorization";
        let own = "session-token";
        #[rustfmt::skip]
        let table: [Case; 17] = [
            ("no header",                   &bearer, &[],                                         Absent),
            ("bearer",                      &bearer, &[(auth, "Bearer s%3Aab.cd")],               Token("s%3Aab.cd")),
            ("scheme in any case",          &bearer, &[(auth, "bEaReR s%3Aab.cd")],               Token("s%3Aab.cd")),
            ("spaces around",               &bearer, &[(auth, "  Bearer   tok  ")],               Token("tok")),
            ("empty: asks for one",         &bearer, &[(auth, "Bearer")],                         NoToken("an empty token header")),
            ("empty after a space",         &bearer, &[(auth, "Bearer ")],                        NoToken("an empty token header")),
            ("another scheme",              &bearer, &[(auth, "Basic dXNlcjpwdw==")],             Absent),
            ("a scheme that starts so",     &bearer, &[(auth, "Bearerx tok")],                    Absent),
            ("several",                     &bearer, &[(auth, "Bearer a"), (auth, "Bearer b")],   NoToken("several token headers")),
            ("several, one another scheme", &bearer, &[(auth, "Basic a"), (auth, "Bearer b")],    NoToken("several token headers")),
            ("oversized",                   &bearer, &[(auth, &long)],                            NoToken("a token longer than any this layer hands out")),
            ("the longest",                 &bearer, &[(auth, &longest_bearer)],                  Token(&longest)),
            ("named",                       &named,  &[(own, "s%3Aab.cd")],                       Token("s%3Aab.cd")),
            ("named, empty",                &named,  &[(own, "")],                                NoToken("an empty token header")),
            ("named, a bearer beside",      &named,  &[(auth, "Bearer tok")],                     Absent),
            ("named, several",              &named,  &[(own, "a"), (own, "b")],                   NoToken("several token headers")),
            ("named, with a scheme word",   &named,  &[(own, "Bearer tok")],                      Token("Bearer tok")),
        ];
        for (case, header, pairs, expected) in table {
            let headers = headers(pairs);
            assert_eq!(presented(&headers, header), expected, "{case}");
        }
        let mut not_text = HeaderMap::new();
        not_text.insert(
            AUTHORIZATION,
            HeaderValue::from_bytes(b"Bearer \xff\xfe").unwrap(),
        );
        assert_eq!(
            presented(&not_text, &bearer),
            NoToken("a token header that is not text")
        );
    }

    #[test]
    fn handing_out_and_voiding() {
        let header = TokenHeader::named(HeaderName::from_static("session-token"));
        let mut out = HeaderMap::new();
        let expires = SystemTime::UNIX_EPOCH + std::time::Duration::from_secs(1_800_000_000);
        hand_out(&mut out, &header, Some(("s%3Aab.cd", Some(expires))));
        assert_eq!(out["session-token"], "s%3Aab.cd");
        assert_eq!(
            out["session-token-expires"],
            "Fri, 15 Jan 2027 08:00:00 GMT"
        );
        assert_eq!(out[VARY], "session-token");
        assert_eq!(out[CACHE_CONTROL], "no-store");
        assert!(!hand_out(&mut out, &header, None), "a token replaced");
        assert_eq!(out["session-token"], "");
        assert_eq!(
            out["session-token-expires"],
            "Thu, 01 Jan 1970 00:00:00 GMT"
        );
        assert_eq!(out.get_all(VARY).iter().count(), 1, "said once");
        assert_eq!(out.get_all(CACHE_CONTROL).iter().count(), 1, "said once");
        // An app's caching headers: a token response is never stored.
        let mut out = HeaderMap::new();
        let public = "public, max-age=600, no-cache=\"x\"";
        out.insert(CACHE_CONTROL, HeaderValue::from_static(public));
        out.insert(VARY, HeaderValue::from_static("Proxy-Authorization"));
        assert!(hand_out(
            &mut out,
            &TokenHeader::bearer(),
            Some(("tok", None))
        ));
        let control: Vec<_> = out.get_all(CACHE_CONTROL).iter().collect();
        assert_eq!(control, [public, "no-store"]);
        let vary: Vec<_> = out.get_all(VARY).iter().collect();
        assert_eq!(vary, ["Proxy-Authorization", "authorization"]);
        let bearer = TokenHeader::bearer();
        let mut out = HeaderMap::new();
        hand_out(&mut out, &bearer, Some(("tok", None)));
        assert_eq!(out["session-token"], "tok");
        assert!(
            out.get("session-token-expires").is_none(),
            "a browser-session lifetime"
        );
        assert_eq!(out[VARY], "authorization");
    }
}
