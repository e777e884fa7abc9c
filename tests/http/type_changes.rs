//! A deploy that changes a field's type never loads a wrong value. Each case writes a field with
//! one schema, over HTTP, and reads it with the next version of the schema, on the same store:
//! the field reads as its default (the old bytes mean something else now) or as exactly the
//! value that was written (the change keeps the meaning). Both codecs, on the memory store and
//! on Redis.

use crate::common;

use std::collections::BTreeMap;

use axum::Router;
use axum::routing::get;
use common::*;
use serde::{Deserialize, Serialize};
use sessionly::store::{Listing, Store};
use sessionly::{MemoryStore, RedisStore, SessionData, TypedSession};

/// The types of the first version of the app.
mod v1 {
    use super::*;

    #[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
    pub enum Role {
        #[default]
        User,
        Admin,
    }

    #[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
    pub enum Level {
        #[default]
        Low,
        Mid,
        High,
    }

    #[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
    pub struct Profile {
        pub name: String,
        pub age: u8,
    }

    #[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
    pub enum Wrap {
        #[default]
        Plain,
        Gift(u8),
    }
}

/// The same types after the deploy.
mod v2 {
    use super::*;

    /// A variant inserted before the stored one.
    #[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
    pub enum Role {
        #[default]
        Guest,
        User,
        Admin,
    }

    /// The variants reordered.
    #[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
    pub enum Swapped {
        Admin,
        #[default]
        User,
    }

    /// The stored variant removed.
    #[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
    pub enum Level {
        #[default]
        Low,
        Mid,
    }

    /// A field added.
    #[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
    pub struct ProfileAdded {
        pub name: String,
        pub age: u8,
        pub email: String,
    }

    /// A field removed.
    #[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
    pub struct ProfileRemoved {
        pub name: String,
    }

    /// A field retyped.
    #[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
    pub struct ProfileRetyped {
        pub name: String,
        pub age: String,
    }

    /// Two fields of one type swapped.
    #[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
    pub struct Pair {
        pub b: u32,
        pub a: u32,
    }

    #[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
    pub struct UserId(pub u64);

    /// A variant added after the others: the stored ones mean what they meant.
    #[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
    pub enum RoleAppended {
        #[default]
        User,
        Admin,
        Owner,
    }

    /// `v1::Wrap` with its second variant retyped.
    #[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
    pub enum Wrap {
        #[default]
        Plain,
        Gift(String),
    }

    /// `v1::Profile` renamed and moved to another module: nothing about its bytes changed.
    #[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
    pub struct Person {
        pub name: String,
        pub age: u8,
    }
}

/// The pair before the swap.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Pair {
    pub a: u32,
    pub b: u32,
}

/// Writes the session with schema `B` (through `write`), then reads it with schema `A`
/// (through `read`) on another app on the same store: a deploy between two requests.
async fn across<B: SessionData, A: SessionData>(
    store: impl Store + Clone,
    write: fn(&mut TypedSession<B>),
    read: fn(&TypedSession<A>) -> String,
) -> String {
    let before = Router::new()
        .route(
            "/",
            get(move |mut s: TypedSession<B>| async move {
                write(&mut s);
                "written"
            }),
        )
        .layer(layer_with(store.clone(), |b| b));
    let after = Router::new()
        .route("/", get(move |s: TypedSession<A>| async move { read(&s) }))
        .layer(layer_with(store, |b| b));
    let written = get_with(&before, "/", None).await;
    assert_eq!(written.body, "written");
    let cookie = written.cookie().expect("the written session's cookie");
    let read = get_with(&after, "/", Some(&cookie)).await;
    assert_eq!(read.status, 200);
    read.body
}

/// One type change: `$before` written as `$value`, read as `$after`, which must read as
/// `$postcard` with the default codec and as `$json` with `Json` (each a value of `$after`).
macro_rules! change {
    ($name:ident: $before:ty = $value:expr => $after:ty; postcard: $postcard:expr; json: $json:expr) => {
        mod $name {
            use super::*;

            #[derive(SessionData)]
            pub struct PostcardBefore {
                pub f: $before,
            }

            #[derive(SessionData)]
            pub struct PostcardAfter {
                pub f: $after,
            }

            #[derive(SessionData)]
            #[session(codec = ::sessionly::Json)]
            pub struct JsonBefore {
                pub f: $before,
            }

            #[derive(SessionData)]
            #[session(codec = ::sessionly::Json)]
            pub struct JsonAfter {
                pub f: $after,
            }

            pub async fn check(store: impl Store + Clone) {
                let expected: $after = $postcard;
                let read = across::<PostcardBefore, PostcardAfter>(
                    store.clone(),
                    |s| s.set_f($value),
                    |s| format!("{:?}", s.f()),
                )
                .await;
                assert_eq!(
                    read,
                    format!("{expected:?}"),
                    "{} (postcard)",
                    stringify!($name)
                );
                let expected: $after = $json;
                let read = across::<JsonBefore, JsonAfter>(
                    store,
                    |s| s.set_f($value),
                    |s| format!("{:?}", s.f()),
                )
                .await;
                assert_eq!(
                    read,
                    format!("{expected:?}"),
                    "{} (json)",
                    stringify!($name)
                );
            }
        }
    };
}

// The two examples: an `Option<u64>` read as a `String` must not read "\u{7}", and an
// admin must not become a user when a variant is inserted first.
change!(option_to_string: Option<u64> = Some(7) => String;
    postcard: String::new(); json: String::new());
change!(variant_inserted: v1::Role = v1::Role::Admin => v2::Role;
    postcard: v2::Role::Guest; json: v2::Role::Admin);
change!(variants_reordered: v1::Role = v1::Role::Admin => v2::Swapped;
    postcard: v2::Swapped::User; json: v2::Swapped::Admin);
change!(variant_removed: v1::Level = v1::Level::High => v2::Level;
    postcard: v2::Level::Low; json: v2::Level::Low);
change!(field_added: v1::Profile = v1::Profile { name: "ada".into(), age: 36 } => v2::ProfileAdded;
    postcard: Default::default(); json: Default::default());
change!(field_removed: v1::Profile = v1::Profile { name: "ada".into(), age: 36 } => v2::ProfileRemoved;
    postcard: Default::default(); json: v2::ProfileRemoved { name: "ada".into() });
change!(field_retyped: v1::Profile = v1::Profile { name: "ada".into(), age: 36 } => v2::ProfileRetyped;
    postcard: Default::default(); json: Default::default());
change!(fields_swapped: Pair = Pair { a: 1, b: 2 } => v2::Pair;
    postcard: Default::default(); json: v2::Pair { b: 2, a: 1 });
change!(narrower_int_that_fits: u64 = 7 => u32; postcard: 7; json: 7);
change!(narrower_int_that_does_not_fit: u64 = 300 => u8; postcard: 0; json: 0);
change!(wider_int: u16 = 7 => u64; postcard: 7; json: 7);
change!(byte_to_varint: u8 = 200 => u16; postcard: 0; json: 200);
change!(signedness: u64 = 7 => i64; postcard: 0; json: 7);
change!(negative_to_unsigned: i64 = -1 => u64; postcard: 0; json: 0);
change!(option_added: u64 = 7 => Option<u64>; postcard: None; json: Some(7));
change!(option_removed: Option<u64> = Some(7) => u64; postcard: 0; json: 7);
change!(vec_added: u64 = 7 => Vec<u64>; postcard: vec![]; json: vec![]);
change!(vec_removed: Vec<u64> = vec![7] => u64; postcard: 0; json: 0);
change!(map_added: u64 = 7 => BTreeMap<String, u64>; postcard: BTreeMap::new(); json: BTreeMap::new());
change!(newtype_added: u64 = 7 => v2::UserId; postcard: v2::UserId(7); json: v2::UserId(7));
change!(bool_to_u8: bool = true => u8; postcard: 0; json: 0);
// What must keep loading: the same type, and the same type renamed and moved.
change!(unchanged: v1::Profile = v1::Profile { name: "ada".into(), age: 36 } => v1::Profile;
    postcard: v1::Profile { name: "ada".into(), age: 36 };
    json: v1::Profile { name: "ada".into(), age: 36 });
change!(type_renamed_and_moved: v1::Profile = v1::Profile { name: "ada".into(), age: 36 } => v2::Person;
    postcard: v2::Person { name: "ada".into(), age: 36 };
    json: v2::Person { name: "ada".into(), age: 36 });
change!(string_to_bytes: String = "ab".into() => Vec<u8>; postcard: vec![]; json: vec![]);

async fn every_change(store: impl Store + Clone) {
    option_to_string::check(store.clone()).await;
    variant_inserted::check(store.clone()).await;
    variants_reordered::check(store.clone()).await;
    variant_removed::check(store.clone()).await;
    field_added::check(store.clone()).await;
    field_removed::check(store.clone()).await;
    field_retyped::check(store.clone()).await;
    fields_swapped::check(store.clone()).await;
    narrower_int_that_fits::check(store.clone()).await;
    narrower_int_that_does_not_fit::check(store.clone()).await;
    wider_int::check(store.clone()).await;
    byte_to_varint::check(store.clone()).await;
    signedness::check(store.clone()).await;
    negative_to_unsigned::check(store.clone()).await;
    option_added::check(store.clone()).await;
    option_removed::check(store.clone()).await;
    vec_added::check(store.clone()).await;
    vec_removed::check(store.clone()).await;
    map_added::check(store.clone()).await;
    newtype_added::check(store.clone()).await;
    bool_to_u8::check(store.clone()).await;
    unchanged::check(store.clone()).await;
    type_renamed_and_moved::check(store.clone()).await;
    string_to_bytes::check(store).await;
}

/// The same changes in a large field, whose postcard bytes (256 or more) carry the digest of
/// their type, checked before the value's: `$before` written as 300 copies of `$value`, read as
/// a `Vec<$after>` of 300 copies of `$kept`'s value, or empty where the bytes now mean something
/// else (`$kept` is `None`).
macro_rules! large_change {
    ($name:ident: $before:ty = $value:expr => $after:ty; $kept:expr) => {
        pub mod $name {
            use super::*;

            #[derive(SessionData)]
            pub struct Before {
                pub f: Vec<$before>,
            }

            #[derive(SessionData)]
            pub struct After {
                pub f: Vec<$after>,
            }

            pub async fn check(store: impl Store + Clone) {
                let kept: Option<$after> = $kept;
                let expected: Vec<$after> = kept.map(|v| vec![v; 300]).unwrap_or_default();
                let read = across::<Before, After>(
                    store,
                    |s| s.set_f(vec![$value; 300]),
                    |s| format!("{:?}", s.f()),
                )
                .await;
                assert_eq!(
                    read,
                    format!("{expected:?}"),
                    "{} (large)",
                    stringify!($name)
                );
            }
        }
    };
}

mod large {
    use super::*;

    large_change!(variant_inserted: v1::Role = v1::Role::Admin => v2::Role; None);
    large_change!(variants_reordered: v1::Role = v1::Role::Admin => v2::Swapped; None);
    large_change!(variant_removed: v1::Level = v1::Level::High => v2::Level; None);
    large_change!(variant_appended: v1::Role = v1::Role::Admin => v2::RoleAppended;
        Some(v2::RoleAppended::Admin));
    large_change!(stored_variant_retyped: v1::Wrap = v1::Wrap::Gift(5) => v2::Wrap; None);
    large_change!(other_variant_retyped: v1::Wrap = v1::Wrap::Plain => v2::Wrap;
        Some(v2::Wrap::Plain));
    large_change!(field_added: v1::Profile = v1::Profile { name: "ada".into(), age: 36 } => v2::ProfileAdded;
        None);
    large_change!(field_retyped: v1::Profile = v1::Profile { name: "ada".into(), age: 36 } => v2::ProfileRetyped;
        None);
    large_change!(fields_swapped: Pair = Pair { a: 1, b: 2 } => v2::Pair; None);
    large_change!(narrower_int_that_fits: u64 = 7 => u32; Some(7));
    large_change!(narrower_int_that_does_not_fit: u64 = 300 => u8; None);
    large_change!(byte_to_varint: u8 = 200 => u16; None);
    large_change!(signedness: u64 = 7 => i64; None);
    large_change!(option_added: u64 = 7 => Option<u64>; None);
    large_change!(newtype_added: u64 = 7 => v2::UserId; Some(v2::UserId(7)));
    large_change!(unchanged: v1::Profile = v1::Profile { name: "ada".into(), age: 36 } => v1::Profile;
        Some(v1::Profile { name: "ada".into(), age: 36 }));
    large_change!(type_renamed_and_moved: v1::Profile = v1::Profile { name: "ada".into(), age: 36 } => v2::Person;
        Some(v2::Person { name: "ada".into(), age: 36 }));

    pub async fn every_change(store: impl Store + Clone) {
        variant_inserted::check(store.clone()).await;
        variants_reordered::check(store.clone()).await;
        variant_removed::check(store.clone()).await;
        variant_appended::check(store.clone()).await;
        stored_variant_retyped::check(store.clone()).await;
        other_variant_retyped::check(store.clone()).await;
        field_added::check(store.clone()).await;
        field_retyped::check(store.clone()).await;
        fields_swapped::check(store.clone()).await;
        narrower_int_that_fits::check(store.clone()).await;
        narrower_int_that_does_not_fit::check(store.clone()).await;
        byte_to_varint::check(store.clone()).await;
        signedness::check(store.clone()).await;
        option_added::check(store.clone()).await;
        newtype_added::check(store.clone()).await;
        unchanged::check(store.clone()).await;
        type_renamed_and_moved::check(store).await;
    }
}

#[tokio::test]
async fn no_type_change_loads_a_wrong_value_in_a_large_field() {
    // The cases' fields are stored in the layout with the type's digest (format byte 0xF2).
    let store = MemoryStore::new();
    let app = Router::new()
        .route(
            "/",
            get(
                |mut s: TypedSession<large::variant_inserted::Before>| async move {
                    s.set_f(vec![v1::Role::Admin; 300]);
                    s.id()
                },
            ),
        )
        .layer(layer_with(store.clone(), |b| b));
    let id = get_with(&app, "/", None).await.body;
    let record = store.get(&id).await.unwrap().expect("the written session");
    assert_eq!(record.fields["f"].first(), Some(&0xf2));
    large::every_change(store).await;
}

#[tokio::test]
async fn no_type_change_loads_a_wrong_value_in_memory() {
    every_change(MemoryStore::new()).await;
}

#[tokio::test]
async fn no_type_change_loads_a_wrong_value_in_redis() {
    let url = std::env::var("REDIS_URL").unwrap_or_else(|_| "redis://127.0.0.1:6379".to_owned());
    let store = RedisStore::open(&url)
        .await
        .unwrap_or_else(|e| panic!("Redis must be running at {url} (see .ci/run): {e}"))
        .with_prefix(format!("test:type-changes:{}:", std::process::id()));
    every_change(store.clone()).await;
    store.clear().await.unwrap();
}
