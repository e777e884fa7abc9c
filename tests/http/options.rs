//! Every middleware option, over HTTP, as express-session documents it.

use crate::common;

use std::time::{Duration, SystemTime};

use axum::Router;
use common::*;
use sessionly::cookie::{Priority, SameSite, Secure};
use sessionly::store::Listing;
use sessionly::{AppSecure, CookieOptions, MemoryStore, SessionLayer, Unset};

const MINUTE: Duration = Duration::from_secs(60);

/// A session created by `/views` (views = 1), returned as the cookie to send back.
async fn existing(app: &Router) -> String {
    let reply = get_with(app, "/views", None).await;
    assert_eq!(reply.body, "1");
    reply
        .cookie()
        .expect("a new modified session sets its cookie")
}

#[tokio::test]
async fn rolling_and_save_uninitialized() {
    // (rolling, saveUninitialized) -> cookie sent for: new untouched, new modified,
    // loaded untouched, loaded modified; and whether the untouched new session was stored.
    #[rustfmt::skip]
    let table = [
        (false, false, [false, true, false, true], false),
        (false, true,  [true,  true, false, true], true),
        (true,  false, [false, true, true,  true], false),
        (true,  true,  [true,  true, true,  true], true),
    ];
    for (rolling, save_uninitialized, expected, stored_untouched) in table {
        let store = MemoryStore::new();
        let app = app(layer_with(store.clone(), |b| {
            b.rolling(rolling)
                .save_uninitialized(save_uninitialized)
                .resave(false)
                .cookie(CookieOptions::new().max_age(MINUTE))
        }));
        let case = format!("rolling={rolling} saveUninitialized={save_uninitialized}");

        let new_untouched = get_with(&app, "/read", None).await;
        assert_eq!(
            store.length().await.unwrap() == 1,
            stored_untouched,
            "{case}"
        );
        let new_modified = get_with(&app, "/views", None).await;
        let cookie = new_modified
            .cookie()
            .expect("modified new session sends a cookie");
        let loaded_untouched = get_with(&app, "/read", Some(&cookie)).await;
        assert_eq!(loaded_untouched.body, "1", "{case}");
        let loaded_modified = get_with(&app, "/views", Some(&cookie)).await;
        assert_eq!(loaded_modified.body, "2", "{case}");

        let sent = [
            &new_untouched,
            &new_modified,
            &loaded_untouched,
            &loaded_modified,
        ]
        .map(|r| r.set_cookie().is_some());
        assert_eq!(sent, expected, "{case}");
    }
}

#[tokio::test]
async fn defaults_store_nothing_until_written_and_do_not_resave() {
    // Not express's deprecated defaults: resave(false), save_uninitialized(false).
    let store = Counting::default();
    let app = app(SessionLayer::builder()
        .secret(SECRET)
        .store(store.clone())
        .build()
        .unwrap());
    // Health checks and crawlers: a handler that extracts the session but writes nothing.
    for _ in 0..3 {
        let reply = get_with(&app, "/read", None).await;
        assert_eq!(reply.status, 200);
        assert!(
            reply.set_cookies.is_empty(),
            "no cookie for an unwritten session"
        );
    }
    assert_eq!(store.counts()[1], 0, "nothing stored");
    assert_eq!(store.inner.length().await.unwrap(), 0);

    // A session that was written once is not written back by a read (at most touched, see
    // `resave_and_modified`).
    let cookie = existing(&app).await;
    let sets = store.counts()[1];
    assert_eq!(get_with(&app, "/read", Some(&cookie)).await.body, "1");
    assert_eq!(store.counts()[1], sets, "no resave");
}

#[tokio::test]
async fn rolling_resends_the_cookie_with_a_fresh_expiry() {
    let app = app(layer_with(MemoryStore::new(), |b| {
        b.rolling(true).cookie(CookieOptions::new().max_age(MINUTE))
    }));
    let cookie = existing(&app).await;
    let first = get_with(&app, "/read", Some(&cookie)).await;
    assert_eq!(
        first.cookie().as_deref(),
        Some(cookie.as_str()),
        "same id resent"
    );
    assert!(first.attr("Expires").is_some());
}

#[tokio::test]
async fn modified_browser_session_cookie_is_not_resent() {
    // express only resends the cookie of a modified session when it has an expiry to move.
    let app = app(layer_with(MemoryStore::new(), |b| b.resave(false)));
    let cookie = existing(&app).await;
    let reply = get_with(&app, "/views", Some(&cookie)).await;
    assert_eq!(reply.body, "2");
    assert_eq!(reply.set_cookie(), None);
}

#[tokio::test]
async fn resave_and_modified() {
    // (resave, route, modifies) -> [sets, touches] caused by one request on a loaded session.
    #[rustfmt::skip]
    let table = [
        (false, "/read",   [0, 1]),
        (false, "/borrow", [0, 1]),
        (false, "/views",  [1, 0]),
        (true,  "/read",   [1, 0]),
        (true,  "/borrow", [1, 0]),
        (true,  "/views",  [1, 0]),
    ];
    for (resave, route, [sets, touches]) in table {
        let store = Counting::default();
        let app = app(layer_with(store.clone(), |b| b.resave(resave)));
        let cookie = existing(&app).await;
        let before = store.counts();
        get_with(&app, route, Some(&cookie)).await;
        let after = store.counts();
        let case = format!("resave={resave} {route}");
        assert_eq!(after[1] - before[1], sets, "sets: {case}");
        assert_eq!(after[2] - before[2], touches, "touches: {case}");
    }
}

#[tokio::test]
async fn secure_and_same_site_follow_the_connection() {
    struct Case {
        name: &'static str,
        secure: Secure,
        same_site: Option<SameSite>,
        proxy: Option<bool>,
        forwarded: Option<&'static str>,
        app_secure: Option<bool>,
        uri: &'static str,
        sent: bool,
        secure_attr: bool,
        same_site_attr: Option<&'static str>,
    }
    let base = || Case {
        name: "",
        secure: Secure::Always,
        same_site: None,
        proxy: None,
        forwarded: None,
        app_secure: None,
        uri: "/views",
        sent: false,
        secure_attr: true,
        same_site_attr: None,
    };
    let cases = [
        Case {
            name: "secure over plain http: not sent",
            ..base()
        },
        Case {
            name: "proxy trusted, https",
            proxy: Some(true),
            forwarded: Some("https"),
            sent: true,
            ..base()
        },
        Case {
            name: "proxy trusted, list starting https",
            proxy: Some(true),
            forwarded: Some("HTTPS , http"),
            sent: true,
            ..base()
        },
        Case {
            name: "proxy trusted, list starting http",
            proxy: Some(true),
            forwarded: Some("http,https"),
            ..base()
        },
        Case {
            name: "proxy distrusted",
            proxy: Some(false),
            forwarded: Some("https"),
            ..base()
        },
        Case {
            name: "proxy distrusted ignores the app",
            proxy: Some(false),
            app_secure: Some(true),
            ..base()
        },
        Case {
            name: "proxy unset ignores the header",
            forwarded: Some("https"),
            ..base()
        },
        Case {
            name: "proxy unset follows the app",
            app_secure: Some(true),
            sent: true,
            ..base()
        },
        Case {
            name: "proxy unset, app says insecure",
            app_secure: Some(false),
            ..base()
        },
        Case {
            name: "direct https URI",
            uri: "https://example.com/views",
            sent: true,
            ..base()
        },
        Case {
            name: "auto over https",
            secure: Secure::Auto,
            same_site: Some(SameSite::Auto),
            proxy: Some(true),
            forwarded: Some("https"),
            sent: true,
            same_site_attr: Some("SameSite=None"),
            ..base()
        },
        Case {
            name: "auto over http",
            secure: Secure::Auto,
            same_site: Some(SameSite::Auto),
            sent: true,
            secure_attr: false,
            same_site_attr: Some("SameSite=Lax"),
            ..base()
        },
        Case {
            name: "never secure, even over https",
            secure: Secure::Never,
            proxy: Some(true),
            forwarded: Some("https"),
            sent: true,
            secure_attr: false,
            ..base()
        },
        Case {
            name: "strict",
            secure: Secure::Never,
            same_site: Some(SameSite::Strict),
            sent: true,
            secure_attr: false,
            same_site_attr: Some("SameSite=Strict"),
            ..base()
        },
        Case {
            name: "lax",
            secure: Secure::Never,
            same_site: Some(SameSite::Lax),
            sent: true,
            secure_attr: false,
            same_site_attr: Some("SameSite=Lax"),
            ..base()
        },
        Case {
            name: "none",
            same_site: Some(SameSite::None),
            proxy: Some(true),
            forwarded: Some("https"),
            sent: true,
            same_site_attr: Some("SameSite=None"),
            ..base()
        },
    ];
    for case in cases {
        let store = MemoryStore::new();
        let mut options = CookieOptions::new().secure(case.secure);
        if let Some(same_site) = case.same_site {
            options = options.same_site(same_site);
        }
        let proxy = case.proxy;
        let app = app(layer_with(store.clone(), |b| {
            let b = b.cookie(options);
            match proxy {
                Some(trust) => b.proxy(trust),
                None => b,
            }
        }));
        let mut request = request("GET", case.uri, None);
        if let Some(forwarded) = case.forwarded {
            request
                .headers_mut()
                .insert("x-forwarded-proto", forwarded.parse().unwrap());
        }
        if let Some(secure) = case.app_secure {
            request.extensions_mut().insert(AppSecure(secure));
        }
        let reply = send_request(&app, request).await;
        assert_eq!(reply.body, "1", "{}", case.name);
        assert_eq!(
            store.length().await.unwrap(),
            usize::from(case.sent),
            "stored only with its cookie sent: {}",
            case.name
        );
        assert_eq!(reply.set_cookie().is_some(), case.sent, "{}", case.name);
        if case.sent {
            assert_eq!(reply.has_attr("Secure"), case.secure_attr, "{}", case.name);
            let same_site = reply
                .set_cookie()
                .unwrap()
                .split(';')
                .map(str::trim)
                .find(|p| p.starts_with("SameSite"));
            assert_eq!(same_site, case.same_site_attr, "{}", case.name);
        }
    }
}

#[tokio::test]
async fn auto_settings_are_fixed_when_the_session_is_created() {
    // As in express, `secure: auto` is resolved when the session is generated: a session
    // created over https keeps a Secure cookie, which is then not sent over http.
    let app = app(layer_with(MemoryStore::new(), |b| {
        b.proxy(true)
            .rolling(true)
            .cookie(CookieOptions::new().secure(Secure::Auto))
    }));
    let mut https = request("GET", "/views", None);
    https
        .headers_mut()
        .insert("x-forwarded-proto", "https".parse().unwrap());
    let created = send_request(&app, https).await;
    assert!(created.has_attr("Secure"));
    let cookie = created.cookie().unwrap();
    let over_http = get_with(&app, "/views", Some(&cookie)).await;
    assert_eq!(over_http.body, "2", "the session itself still works");
    assert_eq!(
        over_http.set_cookie(),
        None,
        "but its Secure cookie is not sent over http"
    );
}

#[tokio::test]
async fn cookie_path_limits_where_sessions_exist() {
    let layer = layer_with(MemoryStore::new(), |b| {
        b.cookie(CookieOptions::new().path("/app"))
    });
    let app = Router::new()
        .nest("/app", routes())
        .merge(routes())
        .layer(layer);

    let inside = get_with(&app, "/app/views", None).await;
    assert_eq!(inside.body, "1");
    assert_eq!(inside.attr("Path").as_deref(), Some("/app"));

    let outside = get_with(&app, "/views", Some(&inside.cookie().unwrap())).await;
    assert_eq!(outside.status, 500);
    assert_eq!(outside.body, "no session for this path");
    assert!(outside.set_cookies.is_empty());
    let untouched = get_with(&app, "/none", None).await;
    assert_eq!(
        (untouched.status.as_u16(), untouched.set_cookies.len()),
        (200, 0)
    );
}

#[tokio::test]
async fn cookie_options_can_be_computed_per_request() {
    // express README: the cookie path is the request's first path segment.
    let layer = layer_with(MemoryStore::new(), |b| {
        b.cookie_with(|parts| {
            let first = parts.uri.path().split('/').nth(1).unwrap_or_default();
            CookieOptions::new()
                .path(format!("/{first}"))
                .max_age(MINUTE)
        })
    });
    let app = Router::new()
        .nest("/shop", routes())
        .nest("/blog", routes())
        .layer(layer);
    let shop = get_with(&app, "/shop/views", None).await;
    assert_eq!(shop.attr("Path").as_deref(), Some("/shop"));
    let blog = get_with(&app, "/blog/views", None).await;
    assert_eq!(blog.attr("Path").as_deref(), Some("/blog"));
}

#[tokio::test]
async fn cookie_attributes() {
    let app = app(layer_with(MemoryStore::new(), |b| {
        b.cookie(
            CookieOptions::new()
                .domain("example.com")
                .http_only(false)
                .partitioned(true)
                .priority(Priority::High)
                .max_age(MINUTE),
        )
    }));
    let before = SystemTime::now();
    let reply = get_with(&app, "/views", None).await;
    let after = SystemTime::now();
    assert!(reply.has_attr("Domain=example.com"));
    assert!(!reply.has_attr("HttpOnly"));
    assert!(reply.has_attr("Partitioned"));
    assert!(reply.has_attr("Priority=High"));
    assert!(reply.has_attr("Path=/"));
    // A minute after the session was created, some time between `before` and `after`, in the
    // whole seconds `Expires` has.
    let expires = httpdate::parse_http_date(&reply.attr("Expires").unwrap()).unwrap();
    let secs = |at: SystemTime| at.duration_since(SystemTime::UNIX_EPOCH).unwrap().as_secs();
    assert!(
        (secs(before + MINUTE)..=secs(after + MINUTE)).contains(&secs(expires)),
        "{expires:?} is not a minute after {before:?}..{after:?}"
    );

    let defaults = app_default().await;
    assert!(defaults.has_attr("HttpOnly"), "HttpOnly by default");
    assert!(defaults.has_attr("Path=/"));
    assert_eq!(
        defaults.attr("Expires"),
        None,
        "browser-session cookie by default"
    );
    assert!(!defaults.has_attr("Secure"));
    assert_eq!(defaults.attr("SameSite"), None);
}

async fn app_default() -> Reply {
    let layer = SessionLayer::builder().secret(SECRET).build().unwrap();
    get_with(&app(layer), "/views", None).await
}

#[tokio::test]
async fn expires_option_sets_the_original_max_age() {
    let at = SystemTime::now() + Duration::from_secs(3600);
    let app = app(layer_with(MemoryStore::new(), |b| {
        b.cookie(CookieOptions::new().expires(at))
    }));
    let reply = get_with(&app, "/max-age", None).await;
    let [left, original]: [u64; 2] = reply
        .body
        .split(' ')
        .map(|n| n.parse().unwrap())
        .collect::<Vec<_>>()
        .try_into()
        .unwrap();
    assert!((3_590_000..=3_600_000).contains(&original), "{original}");
    assert!(left <= original);
}

#[tokio::test]
async fn name_selects_the_cookie() {
    let app = app(layer_with(MemoryStore::new(), |b| b.name("app.sid")));
    let reply = get_with(&app, "/views", None).await;
    let cookie = reply
        .set_cookie_named("app.sid")
        .expect("cookie under the configured name");
    let pair = cookie.split(';').next().unwrap().to_owned();
    assert_eq!(get_with(&app, "/views", Some(&pair)).await.body, "2");
    let renamed = pair.replacen("app.sid", "connect.sid", 1);
    assert_eq!(
        get_with(&app, "/views", Some(&renamed)).await.body,
        "1",
        "other names are ignored"
    );
}

#[tokio::test]
async fn genid_makes_the_ids() {
    let app = app(layer_with(MemoryStore::new(), |b| {
        b.genid(|parts| format!("id-{}", parts.uri.path().len()))
            .save_uninitialized(true)
    }));
    let reply = get_with(&app, "/id", None).await;
    assert_eq!(reply.body, "id-3");
    assert_eq!(reply.cookie_id().as_deref(), Some("id-3"));
}

#[tokio::test]
async fn unset_keep_and_destroy() {
    for (unset, kept) in [(Unset::Keep, true), (Unset::Destroy, false)] {
        let store = MemoryStore::new();
        let app = app(layer_with(store.clone(), |b| b.unset(unset)));
        let cookie = existing(&app).await;
        let reply = get_with(&app, "/unset", Some(&cookie)).await;
        assert_eq!(reply.body, "unset");
        assert_eq!(store.length().await.unwrap() == 1, kept, "{unset:?}");
        if kept {
            assert_eq!(reply.set_cookie(), None);
            let after = get_with(&app, "/read", Some(&cookie)).await;
            assert_eq!(after.body, "1", "the unset request's changes were dropped");
        } else {
            let cleared = reply
                .set_cookie()
                .expect("destroyed session's cookie is cleared");
            assert!(cleared.starts_with("connect.sid=;"), "{cleared}");
            assert!(cleared.contains("Expires=Thu, 01 Jan 1970 00:00:00 GMT"));
        }
    }
}

#[tokio::test]
async fn secrets_are_required() {
    assert!(SessionLayer::builder().build().is_err());
    assert!(
        SessionLayer::builder()
            .secrets(Vec::<&str>::new())
            .build()
            .is_err()
    );
}

#[tokio::test]
async fn lazy_load_leaves_requests_that_never_extract_the_session_alone() {
    // [gets, sets, touches, destroys] a route that never extracts the session adds, with a
    // stored session's cookie and without any cookie; options that would otherwise write.
    for (lazy, expected) in [(false, [1, 2, 0, 0]), (true, [0, 0, 0, 0])] {
        let store = Counting::default();
        let app = app(layer_with(store.clone(), |b| {
            b.lazy_load(lazy)
                .rolling(true)
                .resave(true)
                .save_uninitialized(true)
                .cookie(CookieOptions::new().max_age(MINUTE))
        }));
        let cookie = existing(&app).await;
        let before = store.counts();
        let with_cookie = get_with(&app, "/none", Some(&cookie)).await;
        let without = get_with(&app, "/none", None).await;
        let added: Vec<usize> = (store.counts().iter().zip(before))
            .map(|(a, b)| a - b)
            .collect();
        assert_eq!(added, expected, "lazy_load({lazy})");
        assert_eq!([with_cookie.status, without.status], [200, 200]);
        // Eager: rolling re-sends the cookie, save_uninitialized stores the new visitor's.
        assert_eq!(
            with_cookie.set_cookie().is_some(),
            !lazy,
            "lazy_load({lazy})"
        );
        assert_eq!(without.set_cookie().is_some(), !lazy, "lazy_load({lazy})");

        // A route that extracts it is handled as without the option.
        let read = get_with(&app, "/views", Some(&cookie)).await;
        assert_eq!(read.body, "2", "lazy_load({lazy})");
        assert!(read.set_cookie().is_some(), "rolling re-sends it");
    }
}

#[tokio::test]
async fn lazy_load_with_the_store_down_only_fails_the_routes_that_need_it() {
    let store = Flaky::default();
    let app = app(layer_with(store.clone(), |b| b.lazy_load(true)));
    let cookie = existing(&app).await;
    store.set_down(true);
    let calls = store.calls.load(std::sync::atomic::Ordering::SeqCst);
    let none = get_with(&app, "/none", Some(&cookie)).await;
    assert_eq!(
        (none.status.as_u16(), none.body.as_str()),
        (200, "no session used")
    );
    let after = store.calls.load(std::sync::atomic::Ordering::SeqCst);
    assert_eq!(
        after, calls,
        "a route without the session does not try the store"
    );
    let maybe = get_with(&app, "/maybe", Some(&cookie)).await;
    assert_eq!(
        (maybe.status.as_u16(), maybe.body.as_str()),
        (200, "no session")
    );
    assert_eq!(get_with(&app, "/read", Some(&cookie)).await.status, 503);
    store.set_down(false);
    assert_eq!(get_with(&app, "/read", Some(&cookie)).await.body, "1");
}
