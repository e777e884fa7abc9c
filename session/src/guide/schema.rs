//! The derive in depth: what `#[derive(SessionData)]` generates, its attributes, and how a
//! schema can change while sessions stored under the old one stay readable.
//!
//! # The accessors
//!
//! `#[derive(SessionData)]` on a struct with named fields generates, for each field `f: T`:
//!
//! | accessor | does | marks `f` changed |
//! |---|---|---|
//! | `f() -> &T` | reads | no |
//! | `set_f(value)` | replaces | yes |
//! | `f_mut() -> &mut T` | borrows in place | yes, but a field left equal is not saved |
//! | `take_f() -> T` | returns it, leaves the default | yes |
//! | `reset_f()` | sets the default | yes |
//!
//! They are called on the extractor, [`TypedSession<T>`](crate::TypedSession), which
//! dereferences to them:
//!
//! ```
//! use sessionly::{SessionData, TypedSession};
//!
//! #[derive(SessionData)]
//! struct Account {
//!     views: u32,
//!     cart: Vec<u32>,
//!     #[session(flash)]
//!     notice: Option<String>,
//! }
//!
//! async fn page(mut session: TypedSession<Account>) -> String {
//!     *session.views_mut() += 1; // marks `views` changed
//!     let items = session.cart().len(); // a read changes nothing
//!     let notice = session.take_notice(); // read once: cleared after this request
//!     format!("{} views, {items} items, {notice:?}", session.views())
//! }
//! ```
//!
//! Outside the module that defines the struct there is no other way to change the data
//! ([`data()`](crate::TypedSession::data) gives a `&T`), so no change goes unseen; `ui-tests/`
//! in the repository shows the compile errors. Because the accessors see every write, the
//! layer knows exactly which fields changed: an unmodified session is not saved, a session
//! nobody wrote to is *uninitialized* (express's `saveUninitialized`), and a store that can
//! write single fields writes only those.
//!
//! # Fields are decoded on first access
//!
//! A field is decoded when it is first accessed, not when the session is loaded: until then it
//! is only its stored bytes, shared with the loaded record. A request that changes `views` next
//! to a 16 KiB cart decodes, compares and writes back `views` alone; the cart is neither decoded
//! nor re-encoded, and a field that no longer decodes is only reset (with its warning) when
//! something reads it. [`data()`](crate::TypedSession::data) gathers every field into a `T`
//! (decoding those not read yet), so it takes `&mut self`.
//!
//! # Attributes
//!
//! On a field:
//! - `#[session(default = path)]`: the value of a field missing from the stored session
//!   (otherwise `Default::default()`).
//! - `#[session(rename = "name")]`: the stored name, so a Rust rename does not lose data.
//! - `#[session(skip)]`: request-local, never stored.
//! - `#[session(flash)]`: an `Option` read once, through `take_f`.
//! - `#[session(owner)]`: an `Option<T>` with `T: Display`, such as the user id: who the session
//!   belongs to, indexed by the store (see [`lifetimes`](super::lifetimes)). At most one field.
//!
//! On the struct:
//! - `#[session(codec = sessionly::Json)]`: the field encoding (default:
//!   [`Postcard`](crate::Postcard); [`Json`](crate::Json) with the default `json` feature).
//! - `#[session(namespace = "auth")]`: every field is stored as `auth/<name>` (see
//!   [`libraries`](super::libraries)).
//! - `#[session(crate = path::to::sessionly)]`: where the runtime crate is when it is not
//!   `::sessionly` (a renamed dependency, a framework that re-exports it).
//!
//! ```
//! use sessionly::SessionData;
//!
//! fn one() -> u32 {
//!     1
//! }
//!
//! #[derive(SessionData)]
//! #[session(codec = sessionly::Json)]
//! struct Prefs {
//!     #[session(owner)]
//!     user_id: Option<u64>,
//!     #[session(rename = "pageSize", default = one)]
//!     page_size: u32,
//!     #[session(skip)]
//!     computed: Option<String>,
//! }
//! ```
//!
//! # A schema that evolves
//!
//! Each field is stored under its name, so the schema can change: a new field gets its
//! default, a field the struct no longer has is kept but ignored, and a field whose bytes no
//! longer decode is reset to its default with a warning while the rest of the session survives.
//!
//! Changing a field's type never loads a wrong value. Postcard bytes do not say which type wrote
//! them, so the default codec stores a 32-bit digest of the value's *shape* beside them (the
//! serde calls its `Serialize` makes, without the data: variant and field names, `Option`,
//! sequence and map structure, and each integer's encoding class) and checks it after
//! decoding. An enum variant inserted before the stored one, a field added, removed, retyped or
//! reordered inside a struct, `u64` to `i64`, an `Option` or `Vec` added or removed: the field
//! reads as its default, with a warning naming it. A change that reads the same value — a wider
//! or narrower integer that still holds it, a newtype around the old type, a renamed or moved
//! type — keeps the value. The [`Json`](crate::Json) codec needs no digest: JSON says what it
//! holds, so a changed type either reads the same value or fails to decode.
//! `tests/http/type_changes.rs` checks 24 such changes with both codecs, on the memory store and
//! on Redis, and 17 of them in large fields. The digest costs 5 bytes per stored field (a format
//! byte and the digest) and one extra pass over the value when it is encoded and decoded
//! (`bench/RESULTS.md`).
//!
//! That pass costs a step per element of a collection, so a field whose postcard bytes are 256
//! or more also stores the digest of its *type*, 4 bytes more: traced once per type from its
//! `Deserialize` (every variant of every enum it reaches, with their names) and kept for the
//! process. Decoding compares the two type digests, one comparison; only if the type changed
//! since the write does it walk the value, so a change that reads the same value still keeps
//! it. A type that cannot be traced this way — one whose `Deserialize` asks what comes next, as
//! an untagged enum or `serde_json::Value` does, or that rejects a placeholder such as an empty
//! string — keeps the value's digest alone. A hand-written `Deserialize` that reads a tag of
//! its own and branches on it is traced down one branch only: a schema holding such a type
//! should use the `Json` codec. (A build from before this layout reads such a field as its default, with a warning:
//! a rollback loses large fields, never reads them wrong.)
