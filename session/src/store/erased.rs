//! A store of any type as the layer holds it: [`DynStore`], behind one pointer, each call
//! reported (outcome, latency, errors) when anyone listens; and [`IntoBackend`], what the
//! builder takes: any [`Store`], or the choice of keeping sessions in cookies.

use std::future::Future;
use std::sync::Arc;
use std::time::{Duration, Instant};

use crate::observe;
use crate::record::Record;
use crate::store::{BoxFuture, Capabilities, Changed, Store, StoreError};

/// What a layer keeps its sessions in: any [`Store`], or a [`CookieStore`](crate::CookieStore).
/// [`SessionLayerBuilder::store`](crate::SessionLayerBuilder::store) takes either.
pub trait IntoBackend {
    /// The storage, as the layer holds it.
    #[doc(hidden)]
    fn into_storage(self) -> Storage;
}

/// A layer's storage before the layer is built. Not part of the public API.
#[doc(hidden)]
pub struct Storage(pub(crate) Chosen);

pub(crate) enum Chosen {
    Server(Arc<dyn DynStore>),
    #[cfg_attr(not(feature = "cookie-store"), allow(dead_code))]
    Cookies(CookieStore),
}

#[cfg(feature = "cookie-store")]
use super::CookieStore;
/// Without the `cookie-store` feature, sessions cannot be kept in cookies: the type has no
/// values, so the `Cookies` variant is never made.
#[cfg(not(feature = "cookie-store"))]
type CookieStore = std::convert::Infallible;

impl<S: Store> IntoBackend for S {
    fn into_storage(self) -> Storage {
        Storage(Chosen::Server(Arc::new(self)))
    }
}

#[cfg(feature = "cookie-store")]
impl IntoBackend for CookieStore {
    fn into_storage(self) -> Storage {
        Storage(Chosen::Cookies(self))
    }
}

impl Storage {
    /// Whether the storage has the store-side turn that `store_turns` needs.
    /// Whether sessions are sealed into their cookies, the secrets being encryption keys.
    pub(crate) fn in_cookies(&self) -> bool {
        matches!(self.0, Chosen::Cookies(_))
    }

    pub(crate) fn has_leases(&self) -> bool {
        match &self.0 {
            Chosen::Server(store) => store.has_leases(),
            Chosen::Cookies(_) => false,
        }
    }
}

/// [`Store`] as the layer holds it: behind one pointer, whatever the store's type.
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

/// A call to an operation the store did not declare, reported as the store's answer would be.
fn unsupported<'a, T: Send + 'a>(operation: &'static str) -> BoxFuture<'a, Result<T, StoreError>> {
    observed(
        operation,
        std::future::ready(Err(StoreError::unsupported(operation))),
    )
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
