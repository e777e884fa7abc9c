//! The typed side of a session: the [`SessionData`] trait that `#[derive(SessionData)]`
//! implements, and the change log that turns typed writes into exact field changes.
//!
//! The derive generates, next to the user's struct, a *tracked* type that owns the data and one
//! dirty flag per field; its accessors are the only way to reach the data mutably. When the
//! session is flushed, every dirty field is re-encoded and compared with the bytes it had, so a
//! field borrowed mutably but left equal is not a change.

use std::collections::{BTreeSet, HashMap};
use std::fmt::Display;

use bytes::Bytes;
use serde::Serialize;
use serde::de::DeserializeOwned;

use crate::codec::Codec;
use crate::record::Fields;

/// A struct whose fields are a session's data. Derive it; do not implement it by hand.
///
/// ```
/// use sessionly::SessionData;
///
/// #[derive(SessionData)]
/// struct Account {
///     #[session(owner)]
///     user_id: Option<u64>,
///     #[session(flash)]
///     notice: Option<String>,
/// }
/// ```
///
/// For each field `f` the generated accessors are `f()`, `set_f(..)`, `f_mut()`, `take_f()` and
/// `reset_f()`. Field attributes:
///
/// - `#[session(default = path)]`: the value of a field the stored session lacks (otherwise
///   `Default::default()`).
/// - `#[session(rename = "name")]`: the name the field is stored under.
/// - `#[session(skip)]`: request-local, never stored.
/// - `#[session(flash)]`: an `Option` read once, through `take_f()`.
/// - `#[session(owner)]`: an `Option<T>` with `T: Display` naming who the session belongs to;
///   the store indexes sessions by its text, for
///   [`TypedSession::destroy_other_sessions`](crate::TypedSession::destroy_other_sessions) and
///   [`Store::sessions_of`](crate::Store::sessions_of). At most one field.
///
/// On the struct, `#[session(codec = path)]` chooses the field encoding (default
/// [`Postcard`](crate::Postcard)).
pub trait SessionData: Send + Sized + 'static {
    /// The generated type that owns the data and tracks which fields changed.
    /// [`TypedSession<Self>`](crate::TypedSession) dereferences to it, so its accessors are
    /// called on the extractor.
    type Tracked: Tracked<Data = Self>;
}

/// The contract between the derive and the runtime. Implemented by generated code only.
#[doc(hidden)]
pub trait Tracked: Send + Sized + 'static {
    type Data: SessionData<Tracked = Self>;

    /// Builds the data from stored fields: a missing field or one that no longer decodes gets
    /// its default.
    fn load(fields: &Fields) -> Self;

    /// Hands every field written since the last flush to `sink` and clears the dirty flags.
    fn flush(&mut self, sink: &mut Sink<'_>);

    /// The data, read-only.
    fn data(&self) -> &Self::Data;
}

/// Decodes the field `name`, falling back to `default` when it is missing or undecodable.
#[doc(hidden)]
pub fn decode_field<C: Codec, V: Serialize + DeserializeOwned>(
    fields: &Fields,
    name: &'static str,
    default: impl FnOnce() -> V,
) -> V {
    let Some(bytes) = fields.get(name) else {
        return default();
    };
    match C::decode(bytes) {
        Ok(value) => value,
        Err(error) => {
            tracing::warn!(field = name, %error, "stored session field no longer decodes; using its default");
            default()
        }
    }
}

/// What an owner field holds: a value whose text identifies the owner in the store's index.
#[doc(hidden)]
#[diagnostic::on_unimplemented(
    message = "a `#[session(owner)]` field must be `Option<T>` with `T: Display`, and `{Self}` does not implement `Display`",
    label = "the owner is indexed by its text",
    note = "use the user's id (a number, a string, a UUID), or implement `Display` for `{Self}`"
)]
pub trait OwnerKey {
    /// The owner's text.
    fn owner_key(&self) -> String;
}

impl<T: Display + ?Sized> OwnerKey for T {
    fn owner_key(&self) -> String {
        self.to_string()
    }
}

/// Where a flush writes the fields it re-encoded.
#[doc(hidden)]
pub struct Sink<'a> {
    pub(crate) fields: &'a mut Fields,
    pub(crate) log: &'a mut ChangeLog,
    pub(crate) owner: &'a mut Option<String>,
}

impl Sink<'_> {
    /// Records who owns the session, from the field marked `#[session(owner)]`: its value as
    /// text, or no owner for `None`.
    pub fn owner<V: OwnerKey>(&mut self, value: &Option<V>) {
        let owner = value.as_ref().map(OwnerKey::owner_key);
        if *self.owner != owner {
            *self.owner = owner;
            self.log.owner_changed = true;
        }
    }

    /// Records the current value of the field `name`, if its bytes differ from what the record
    /// holds. A field the record lacks is compared with the encoding of its default.
    pub fn field<C: Codec, V: Serialize>(
        &mut self,
        name: &'static str,
        value: &V,
        default: impl FnOnce() -> V,
    ) {
        let encoded = match C::encode(value) {
            Ok(bytes) => bytes,
            Err(error) => {
                tracing::error!(field = name, %error, "session field could not be encoded; its change is dropped");
                return;
            }
        };
        // A missing field reads as its default, so the default's bytes are what it "had".
        let had = match self.fields.get(name) {
            Some(current) => Some(current.clone()),
            None => C::encode(&default()).ok().map(Bytes::from),
        };
        if had.as_deref() != Some(&encoded[..]) {
            // Trimmed to its length first: `Bytes` keeps a spare capacity in a second allocation.
            let encoded = Bytes::from(encoded.into_boxed_slice());
            match self.fields.get_mut(name) {
                Some(slot) => *slot = encoded,
                None => {
                    self.fields.insert(name.to_owned(), encoded);
                }
            }
            self.log.record(name, had);
        }
    }
}

/// What changed in a record since it was loaded and since it was last written to the store.
#[derive(Debug, Default)]
pub(crate) struct ChangeLog {
    /// The loaded bytes of every field changed since load (a missing field: its default's).
    originals: HashMap<String, Option<Bytes>>,
    /// Fields changed since the last write to the store.
    unsaved: BTreeSet<String>,
    /// Bumped on every change; compared with the generation last saved.
    generation: u64,
    /// The owner changed since the last write to the store.
    pub(crate) owner_changed: bool,
}

impl ChangeLog {
    fn record(&mut self, name: &str, previous: Option<Bytes>) {
        if !self.originals.contains_key(name) {
            self.originals.insert(name.to_owned(), previous);
        }
        if !self.unsaved.contains(name) {
            self.unsaved.insert(name.to_owned());
        }
        self.generation += 1;
    }

    /// Notes a change that is not a field (the cookie state, the id).
    pub(crate) fn bump(&mut self) {
        self.generation += 1;
    }

    pub(crate) fn generation(&self) -> u64 {
        self.generation
    }

    /// Whether any field differs from what was loaded.
    pub(crate) fn fields_modified(&self, fields: &Fields) -> bool {
        self.originals
            .iter()
            .any(|(name, original)| fields.get(name) != original.as_ref())
    }

    /// The fields written since the last save.
    pub(crate) fn unsaved(&self) -> &BTreeSet<String> {
        &self.unsaved
    }

    /// After a write to the store: nothing is unsaved any more.
    pub(crate) fn saved(&mut self) {
        self.unsaved.clear();
        self.owner_changed = false;
    }

    /// After a load or a regeneration: what is there now is the baseline.
    pub(crate) fn reset(&mut self) {
        self.originals.clear();
        self.unsaved.clear();
        self.owner_changed = false;
        self.generation += 1;
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::codec::Postcard;

    fn flush_one(fields: &mut Fields, log: &mut ChangeLog, value: u32) {
        let owner = &mut None;
        Sink { fields, log, owner }.field::<Postcard, u32>("n", &value, || 0);
    }

    #[test]
    fn writing_the_default_to_a_missing_field_is_no_change() {
        let (mut fields, mut log) = (Fields::new(), ChangeLog::default());
        flush_one(&mut fields, &mut log, 0);
        assert!(fields.is_empty());
        assert!(!log.fields_modified(&fields));
    }

    #[test]
    fn a_change_reverted_is_not_a_modification_but_is_unsaved() {
        let (mut fields, mut log) = (Fields::new(), ChangeLog::default());
        flush_one(&mut fields, &mut log, 1);
        assert!(log.fields_modified(&fields));
        flush_one(&mut fields, &mut log, 0);
        assert!(
            !log.fields_modified(&fields),
            "back to the default it read as"
        );
        fields.insert("n".into(), Bytes::from(Postcard::encode(&1u32).unwrap()));
        log.reset();
        flush_one(&mut fields, &mut log, 2);
        flush_one(&mut fields, &mut log, 1);
        assert!(!log.fields_modified(&fields));
        assert!(log.unsaved().contains("n"));
    }

    #[test]
    fn undecodable_field_falls_back_to_default() {
        let mut fields = Fields::new();
        fields.insert(
            "n".into(),
            Bytes::from_static(&[0xff, 0xff, 0xff, 0xff, 0xff, 0xff]),
        );
        assert_eq!(decode_field::<Postcard, u32>(&fields, "n", || 42), 42);
        assert_eq!(decode_field::<Postcard, u32>(&fields, "missing", || 7), 7);
    }
}
