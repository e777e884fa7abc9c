//! [`Store`] as the backend holds it: behind one pointer, whatever the store's type, each call
//! reported (outcome, latency, errors) when anyone listens.

use std::future::Future;
use std::pin::Pin;
use std::time::{Duration, Instant};

use crate::observe;
use crate::record::Record;
use crate::store::{Changed, Store, StoreError};

pub(crate) type BoxFuture<'a, T> = Pin<Box<dyn Future<Output = T> + Send + 'a>>;

/// [`Store`] as the middleware holds it: behind one pointer, whatever the store's type.
/// Native `async fn` in traits cannot be called through `dyn`, so this boxes each call; a store
/// call is a round trip (or a map lookup), next to which the box costs nothing.
pub(crate) trait DynStore: Send + Sync + 'static {
    fn get_within<'a>(
        &'a self,
        id: &'a str,
        max_size: usize,
    ) -> BoxFuture<'a, Result<Option<Record>, StoreError>>;
    fn set<'a>(
        &'a self,
        id: &'a str,
        record: &'a Record,
        changed: Changed<'a>,
    ) -> BoxFuture<'a, Result<(), StoreError>>;
    fn destroy<'a>(&'a self, id: &'a str) -> BoxFuture<'a, Result<(), StoreError>>;
    fn touch<'a>(
        &'a self,
        id: &'a str,
        record: &'a Record,
    ) -> BoxFuture<'a, Result<(), StoreError>>;
    fn idle_ttl(&self) -> Option<Duration>;
    fn keeps_cookie_attributes(&self) -> bool;
    fn sessions_of<'a>(
        &'a self,
        owner: &'a str,
    ) -> BoxFuture<'a, Result<Vec<(String, Record)>, StoreError>>;
    fn destroy_sessions_of<'a>(
        &'a self,
        owner: &'a str,
        keep: Option<&'a str>,
    ) -> BoxFuture<'a, Result<usize, StoreError>>;
    fn has_leases(&self) -> bool;
    fn lease<'a>(
        &'a self,
        id: &'a str,
        ttl: Duration,
    ) -> BoxFuture<'a, Result<Option<String>, StoreError>>;
    fn release<'a>(&'a self, id: &'a str, token: &'a str) -> BoxFuture<'a, Result<(), StoreError>>;
    fn set_within_lease<'a>(
        &'a self,
        id: &'a str,
        record: &'a Record,
        changed: Changed<'a>,
        token: &'a str,
        release: bool,
    ) -> BoxFuture<'a, Result<(), StoreError>>;
}

impl<S: Store> DynStore for S {
    fn get_within<'a>(
        &'a self,
        id: &'a str,
        max_size: usize,
    ) -> BoxFuture<'a, Result<Option<Record>, StoreError>> {
        observed("get", Store::get_within(self, id, max_size))
    }

    fn set<'a>(
        &'a self,
        id: &'a str,
        record: &'a Record,
        changed: Changed<'a>,
    ) -> BoxFuture<'a, Result<(), StoreError>> {
        observed("set", Store::set(self, id, record, changed))
    }

    fn destroy<'a>(&'a self, id: &'a str) -> BoxFuture<'a, Result<(), StoreError>> {
        observed("destroy", Store::destroy(self, id))
    }

    fn touch<'a>(
        &'a self,
        id: &'a str,
        record: &'a Record,
    ) -> BoxFuture<'a, Result<(), StoreError>> {
        observed("touch", Store::touch(self, id, record))
    }

    fn idle_ttl(&self) -> Option<Duration> {
        Store::idle_ttl(self)
    }

    fn keeps_cookie_attributes(&self) -> bool {
        Store::keeps_cookie_attributes(self)
    }

    fn sessions_of<'a>(
        &'a self,
        owner: &'a str,
    ) -> BoxFuture<'a, Result<Vec<(String, Record)>, StoreError>> {
        observed("sessions_of", Store::sessions_of(self, owner))
    }

    fn destroy_sessions_of<'a>(
        &'a self,
        owner: &'a str,
        keep: Option<&'a str>,
    ) -> BoxFuture<'a, Result<usize, StoreError>> {
        observed(
            "destroy_sessions_of",
            Store::destroy_sessions_of(self, owner, keep),
        )
    }

    fn has_leases(&self) -> bool {
        Store::has_leases(self)
    }

    fn lease<'a>(
        &'a self,
        id: &'a str,
        ttl: Duration,
    ) -> BoxFuture<'a, Result<Option<String>, StoreError>> {
        observed("lease", Store::lease(self, id, ttl))
    }

    fn release<'a>(&'a self, id: &'a str, token: &'a str) -> BoxFuture<'a, Result<(), StoreError>> {
        observed("release", Store::release(self, id, token))
    }

    fn set_within_lease<'a>(
        &'a self,
        id: &'a str,
        record: &'a Record,
        changed: Changed<'a>,
        token: &'a str,
        release: bool,
    ) -> BoxFuture<'a, Result<(), StoreError>> {
        observed(
            "set",
            Store::set_within_lease(self, id, record, changed, token, release),
        )
    }
}

/// One store call, boxed as the backend holds it: reported when anyone listens, and left as it
/// is otherwise, so that nobody listening costs nothing.
fn observed<'a, T: 'a>(
    op: &'static str,
    call: impl Future<Output = Result<T, StoreError>> + Send + 'a,
) -> BoxFuture<'a, Result<T, StoreError>> {
    if observe::timing() {
        Box::pin(reported(op, call))
    } else {
        Box::pin(call)
    }
}

/// Runs one store call, and reports its outcome and latency.
async fn reported<T>(
    op: &'static str,
    call: impl Future<Output = Result<T, StoreError>>,
) -> Result<T, StoreError> {
    let started = observe::timing().then(Instant::now);
    let result = call.await;
    let outcome = match &result {
        Ok(_) => "ok",
        Err(StoreError::Gone) => "gone",
        Err(StoreError::Unsupported { .. }) => "unsupported",
        Err(_) => "backend",
    };
    observe::store_call(op, outcome, started.map(|started| started.elapsed()));
    result
}
