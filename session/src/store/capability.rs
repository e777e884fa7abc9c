//! What a store declares it can do beyond the core: [`Capabilities`], made only from traits the
//! store implements, so a declaration cannot claim what the store lacks.
//!
//! Each declared capability keeps its calls as function pointers typed for the store, so the
//! layer, which holds the store behind a pointer of unknown type, can make them.

use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::time::Duration;

use super::{Changed, Leases, Listing, OwnerIndex, Store, StoreError};
use crate::record::Record;

/// A boxed, sendable future: how the layer holds a store call.
pub(crate) type BoxFuture<'a, T> = Pin<Box<dyn Future<Output = T> + Send + 'a>>;

/// The optional capabilities of a store of type `S`, returned by [`Store::capabilities`]:
/// start from [`none`](Capabilities::none) and add each one the store implements.
pub struct Capabilities<S> {
    pub(crate) leases: Option<LeaseCalls<S>>,
    pub(crate) owner_index: Option<IndexCalls<S>>,
    pub(crate) listing: Option<ListingCalls<S>>,
}

impl<S> fmt::Debug for Capabilities<S> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Capabilities")
            .field("leases", &self.leases.is_some())
            .field("owner_index", &self.owner_index.is_some())
            .field("listing", &self.listing.is_some())
            .finish()
    }
}

impl<S: Store> Capabilities<S> {
    /// No capability beyond the core [`Store`].
    pub fn none() -> Self {
        Self {
            leases: None,
            owner_index: None,
            listing: None,
        }
    }

    /// The store-side turn ([`Leases`]).
    pub fn leases(mut self) -> Self
    where
        S: Leases,
    {
        self.leases = Some(LeaseCalls {
            lease: |s, id, ttl| Box::pin(s.lease(id, ttl)),
            release: |s, id, token| Box::pin(s.release(id, token)),
            set_within_lease: |s, id, record, changed, token, release| {
                Box::pin(s.set_within_lease(id, record, changed, token, release))
            },
        });
        self
    }

    /// The per-owner index ([`OwnerIndex`]).
    pub fn owner_index(mut self) -> Self
    where
        S: OwnerIndex,
    {
        self.owner_index = Some(IndexCalls {
            sessions_of: |s, owner| Box::pin(s.sessions_of(owner)),
            destroy_sessions_of: |s, owner, keep| Box::pin(s.destroy_sessions_of(owner, keep)),
        });
        self
    }

    /// Listing and clearing ([`Listing`]).
    pub fn listing(mut self) -> Self
    where
        S: Listing,
    {
        self.listing = Some(ListingCalls {
            all: |s| Box::pin(s.all()),
            clear: |s| Box::pin(s.clear()),
            length: |s| Box::pin(s.length()),
        });
        self
    }

    /// Whether the store declared [`Leases`].
    pub fn has_leases(&self) -> bool {
        self.leases.is_some()
    }

    /// Whether the store declared [`OwnerIndex`].
    pub fn has_owner_index(&self) -> bool {
        self.owner_index.is_some()
    }

    /// Whether the store declared [`Listing`].
    pub fn has_listing(&self) -> bool {
        self.listing.is_some()
    }
}

type Call<'a, T> = BoxFuture<'a, Result<T, StoreError>>;
type Sessions = Vec<(String, Record)>;

pub(crate) struct LeaseCalls<S> {
    pub(crate) lease: for<'a> fn(&'a S, &'a str, Duration) -> Call<'a, Option<String>>,
    pub(crate) release: for<'a> fn(&'a S, &'a str, &'a str) -> Call<'a, ()>,
    #[allow(clippy::type_complexity)] // The signature of `Leases::set_within_lease`.
    pub(crate) set_within_lease:
        for<'a> fn(&'a S, &'a str, &'a Record, Changed<'a>, &'a str, bool) -> Call<'a, ()>,
}

pub(crate) struct IndexCalls<S> {
    pub(crate) sessions_of: for<'a> fn(&'a S, &'a str) -> Call<'a, Sessions>,
    pub(crate) destroy_sessions_of: for<'a> fn(&'a S, &'a str, Option<&'a str>) -> Call<'a, usize>,
}

// Only the conformance suite lists; the layer never does.
#[cfg_attr(not(feature = "testing"), allow(dead_code))]
pub(crate) struct ListingCalls<S> {
    pub(crate) all: for<'a> fn(&'a S) -> Call<'a, Sessions>,
    pub(crate) clear: for<'a> fn(&'a S) -> Call<'a, ()>,
    pub(crate) length: for<'a> fn(&'a S) -> Call<'a, usize>,
}
