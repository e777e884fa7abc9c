//! [`Store`] as the backend holds it: behind one pointer, whatever the store's type, each call
//! reported (outcome, latency, errors) when anyone listens.

use std::future::Future;
use std::time::{Duration, Instant};

use crate::observe;
use crate::record::Record;
use crate::store::{BoxFuture, Capabilities, Changed, Store, StoreError};

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
        match capabilities::<S>().owner_index {
            Some(index) => observed_boxed("sessions_of", (index.sessions_of)(self, owner)),
            None => unsupported("sessions_of"),
        }
    }

    fn destroy_sessions_of<'a>(
        &'a self,
        owner: &'a str,
        keep: Option<&'a str>,
    ) -> BoxFuture<'a, Result<usize, StoreError>> {
        match capabilities::<S>().owner_index {
            Some(index) => observed_boxed(
                "destroy_sessions_of",
                (index.destroy_sessions_of)(self, owner, keep),
            ),
            // As the index's own default would: it starts by listing.
            None => unsupported("sessions_of"),
        }
    }

    fn has_leases(&self) -> bool {
        capabilities::<S>().has_leases()
    }

    fn lease<'a>(
        &'a self,
        id: &'a str,
        ttl: Duration,
    ) -> BoxFuture<'a, Result<Option<String>, StoreError>> {
        match capabilities::<S>().leases {
            Some(leases) => observed_boxed("lease", (leases.lease)(self, id, ttl)),
            None => unsupported("lease"),
        }
    }

    fn release<'a>(&'a self, id: &'a str, token: &'a str) -> BoxFuture<'a, Result<(), StoreError>> {
        match capabilities::<S>().leases {
            Some(leases) => observed_boxed("release", (leases.release)(self, id, token)),
            None => unsupported("release"),
        }
    }

    fn set_within_lease<'a>(
        &'a self,
        id: &'a str,
        record: &'a Record,
        changed: Changed<'a>,
        token: &'a str,
        release: bool,
    ) -> BoxFuture<'a, Result<(), StoreError>> {
        match capabilities::<S>().leases {
            Some(leases) => observed_boxed(
                "set",
                (leases.set_within_lease)(self, id, record, changed, token, release),
            ),
            None => unsupported("set_within_lease"),
        }
    }
}

fn capabilities<S: Store>() -> Capabilities<S> {
    S::capabilities()
}

/// A call to an operation the store did not declare.
fn unsupported<'a, T: Send + 'a>(operation: &'static str) -> BoxFuture<'a, Result<T, StoreError>> {
    Box::pin(std::future::ready(Err(StoreError::unsupported(operation))))
}

/// [`observed`] for a call the store's capabilities boxed already: boxed again only when
/// someone listens.
fn observed_boxed<'a, T: 'a>(
    op: &'static str,
    call: BoxFuture<'a, Result<T, StoreError>>,
) -> BoxFuture<'a, Result<T, StoreError>> {
    if observe::timing() {
        Box::pin(reported(op, call))
    } else {
        call
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
