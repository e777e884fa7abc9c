//! A store that stops answering: requests go on without a session, extraction fails with a
//! clear error, nothing panics, and sessions come back with the store.

use crate::common;

use common::*;

#[tokio::test]
async fn store_outage_is_visible_and_recoverable() {
    let store = Flaky::default();
    let app = app(layer_with(store.clone(), |b| b.resave(false)));
    let cookie = get_with(&app, "/views", None).await.cookie().unwrap();

    store.set_down(true);
    let loading = get_with(&app, "/views", Some(&cookie)).await;
    assert_eq!(
        loading.status, 503,
        "a session handler cannot run without its session"
    );
    assert_eq!(loading.body, "session store unavailable");
    assert!(loading.set_cookies.is_empty());
    let unrelated = get_with(&app, "/none", Some(&cookie)).await;
    assert_eq!(
        unrelated.status, 200,
        "routes that do not use the session still work"
    );
    let optional = get_with(&app, "/maybe", Some(&cookie)).await;
    assert_eq!(
        (optional.status.as_u16(), optional.body.as_str()),
        (200, "no session")
    );

    let saving = get_with(&app, "/views", None).await;
    assert_eq!(
        saving.status, 503,
        "a write the store did not take is an error"
    );
    assert!(saving.set_cookies.is_empty());
    let housekeeping = get_with(&app, "/none", None).await;
    assert_eq!(
        housekeeping.status, 200,
        "an uninitialized session's failed save is not"
    );
    assert!(
        housekeeping.set_cookies.is_empty(),
        "but its cookie is not sent"
    );

    store.set_down(false);
    assert_eq!(
        get_with(&app, "/views", Some(&cookie)).await.body,
        "2",
        "recovered by itself"
    );
}

#[tokio::test]
async fn failing_session_operations_return_errors() {
    let store = Flaky::default();
    let app = app(layer_with(store.clone(), |b| b));
    let cookie = get_with(&app, "/views", None).await.cookie().unwrap();
    // Load succeeds, then the store goes down before the handler's own store calls: the
    // middleware cannot be paused mid-request here, so check each operation's error path with
    // the store down from the start of a request that has no cookie (nothing to load).
    store.set_down(true);
    for route in ["/save", "/regenerate", "/reload"] {
        let reply = get_with(&app, route, None).await;
        assert_eq!(reply.status, 503, "{route}");
    }
    store.set_down(false);
    assert_eq!(get_with(&app, "/read", Some(&cookie)).await.body, "1");
}

#[tokio::test]
async fn missing_layer_is_a_clear_error() {
    let reply = get_with(&routes(), "/views", None).await;
    assert_eq!(reply.status, 500);
    assert_eq!(reply.body, "no session layer on this route");
}
