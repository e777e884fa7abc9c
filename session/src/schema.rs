//! The typed side of a session: the [`SessionData`] trait that `#[derive(SessionData)]`
//! implements, and the change log that turns typed writes into exact field changes.
//!
//! The derive generates, next to the user's struct, a *tracked* type that owns the data and one
//! dirty flag per field; its accessors are the only way to reach the data mutably. Each stored
//! field is a [`LazyField`]: its stored bytes until an accessor first reaches it, then its
//! value. When the session is flushed, every dirty field is re-encoded and compared with the
//! bytes it had, so a field borrowed mutably but left equal is not a change; a field nothing
//! reached costs neither a decode nor an encode.

use std::any::TypeId;
use std::collections::{BTreeSet, HashMap};
use std::fmt::Display;
use std::sync::{Arc, Mutex, OnceLock, PoisonError, RwLock};

use bytes::Bytes;
use serde::Serialize;
use serde::de::DeserializeOwned;

use crate::codec::{Codec, CodecError};
use crate::error::SessionError;
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
///   [`OwnerIndex::sessions_of`](crate::store::OwnerIndex::sessions_of). At most one field.
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

    /// The data, read-only. Decodes every field not decoded yet.
    fn data(&mut self) -> &Self::Data;

    /// The data, taken out.
    fn into_data(self) -> Self::Data;

    /// Tracks `data` as if every field had been set (a session seeded with it).
    fn new(data: Self::Data) -> Self;

    /// The stored fields: their names and what their bytes encode.
    fn fields() -> Vec<FieldInfo>;
}

/// One stored field of a schema: its stored name, the identity of its codec and type (two
/// schemas that store one name must agree on both), and whether it is the owner field.
#[doc(hidden)]
#[derive(Debug, Clone)]
pub struct FieldInfo {
    pub(crate) name: &'static str,
    pub(crate) encoding: TypeId,
    pub(crate) type_name: &'static str,
    pub(crate) owner: bool,
}

impl FieldInfo {
    /// The field `name`, of type `V` encoded by `C`.
    pub fn of<C: 'static, V: 'static>(name: &'static str, owner: bool) -> Self {
        Self {
            name,
            encoding: TypeId::of::<(C, V)>(),
            type_name: std::any::type_name::<V>(),
            owner,
        }
    }
}

/// What the type of a stored field must be: serde's `Serialize` and `DeserializeOwned`, for its
/// codec. The derive asks for it once per field, at the field's type, so that a type serde
/// cannot store is one error there that names the fix, not one per generated call quoting
/// serde's traits.
#[doc(hidden)]
#[diagnostic::on_unimplemented(
    message = "`{Self}` cannot be stored in a session: it must implement both serde's `Serialize` and `Deserialize`",
    label = "needs `Serialize` and `Deserialize`",
    note = "add `#[derive(serde::Serialize, serde::Deserialize)]` to `{Self}` (or to the types inside it), with serde's `derive` feature; for a type of another crate, enable that crate's `serde` feature if it has one",
    note = "a field that should not be stored can be marked `#[session(skip)]`"
)]
pub trait SessionValue: Serialize + DeserializeOwned {}

// Without `do_not_recommend` rustc reports each serde trait the type lacks as an error of its
// own, quoting this impl; with it, one error with the trait's message.
#[diagnostic::do_not_recommend]
impl<T: Serialize + DeserializeOwned> SessionValue for T {}

/// What a field without `#[session(default = ...)]` needs: `Default`, under a message that
/// names both ways to give a field its default.
#[doc(hidden)]
#[diagnostic::on_unimplemented(
    message = "`{Self}` has no default: a session field's type must implement `Default`, or the field needs `#[session(default = path::to::function)]`",
    label = "a session field starts at its default",
    note = "add `#[derive(Default)]` to `{Self}` if it is your type, or give the field `#[session(default = path::to::function)]`, naming a function that returns its value"
)]
pub trait FieldDefault: Sized {
    /// The value of a field the stored session lacks.
    fn field_default() -> Self;
}

impl<T: Default> FieldDefault for T {
    #[inline]
    fn field_default() -> Self {
        T::default()
    }
}

/// The codec `C`'s functions for one field's type `V`. Generated code makes it in one function
/// per stored field (with [`field_codec`]) and passes it to every call that encodes or decodes,
/// so `C: Codec` and `V: SessionValue` are asked once per field, not at each of those calls.
#[doc(hidden)]
pub struct FieldCodec<V> {
    encode: fn(&V) -> Result<Vec<u8>, CodecError>,
    decode: fn(&[u8]) -> Result<V, CodecError>,
}

impl<V> Clone for FieldCodec<V> {
    fn clone(&self) -> Self {
        *self
    }
}

impl<V> Copy for FieldCodec<V> {}

/// The codec `C` for fields of type `V`.
#[doc(hidden)]
#[inline]
pub fn field_codec<C: Codec, V: SessionValue>() -> FieldCodec<V> {
    FieldCodec {
        encode: C::encode_field::<V>,
        decode: C::decode::<V>,
    }
}

impl<V> FieldCodec<V> {
    /// Decodes the stored bytes of the field `name`, falling back to `default` when there are
    /// none or they no longer decode.
    pub fn decode_field(
        self,
        stored: Option<&[u8]>,
        name: &'static str,
        default: impl FnOnce() -> V,
    ) -> V {
        let Some(bytes) = stored else {
            return default();
        };
        match (self.decode)(bytes) {
            Ok(value) => value,
            Err(error) => {
                tracing::warn!(field = name, %error, "stored session field no longer decodes; using its default");
                default()
            }
        }
    }
}

/// One stored field of a tracked type, decoded on first access: until then it holds only the
/// stored bytes (shared with the record, not copied), so a field a request never touches is
/// neither decoded nor re-encoded. Generated code passes the field's `decode` function (its
/// codec, stored name and default, over [`FieldCodec::decode_field`]) to every access that
/// may decode.
#[doc(hidden)]
pub struct LazyField<V> {
    decoded: OnceLock<V>,
    stored: Option<Bytes>,
}

/// How a field's stored bytes (none if the record lacks it) become its value.
type Decode<V> = fn(Option<&[u8]>) -> V;

impl<V> LazyField<V> {
    /// The field `name` of a loaded record, not decoded yet.
    #[inline]
    pub fn stored(fields: &Fields, name: &str) -> Self {
        Self {
            decoded: OnceLock::new(),
            stored: fields.get(name).cloned(),
        }
    }

    /// A field holding `value`.
    #[inline]
    pub fn new(value: V) -> Self {
        Self {
            decoded: OnceLock::from(value),
            stored: None,
        }
    }

    /// The value, decoded now if it was not yet.
    #[inline]
    pub fn get(&self, decode: Decode<V>) -> &V {
        self.decoded.get_or_init(|| decode(self.stored.as_deref()))
    }

    /// The value for changing it, decoded now if it was not yet.
    #[inline]
    pub fn get_mut(&mut self, decode: Decode<V>) -> &mut V {
        if self.decoded.get().is_none() {
            self.decoded = OnceLock::from(decode(self.stored.take().as_deref()));
        }
        match self.decoded.get_mut() {
            Some(value) => value,
            None => unreachable!("the value was decoded above"),
        }
    }

    /// Replaces the value without decoding the stored one.
    #[inline]
    pub fn set(&mut self, value: V) {
        self.decoded = OnceLock::from(value);
        self.stored = None;
    }

    /// The value, moved out; the field is left empty.
    #[inline]
    pub fn take(&mut self, decode: Decode<V>) -> V {
        match self.decoded.take() {
            Some(value) => value,
            None => decode(self.stored.take().as_deref()),
        }
    }

    /// Whether the value has been decoded (or set).
    #[cfg(test)]
    fn is_decoded(&self) -> bool {
        self.decoded.get().is_some()
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
    pub fn field<V>(
        &mut self,
        name: &'static str,
        value: &V,
        codec: FieldCodec<V>,
        default: impl FnOnce() -> V,
    ) {
        let encoded = match (codec.encode)(value) {
            Ok(bytes) => bytes,
            Err(error) => {
                tracing::error!(field = name, %error, "session field could not be encoded; its change is dropped");
                return;
            }
        };
        // A missing field reads as its default, so the default's bytes are what it "had".
        let had = match self.fields.get(name) {
            Some(current) => Some(current.clone()),
            None => (codec.encode)(&default()).ok().map(Bytes::from),
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

/// The schemas used under one layer, and the stored names they claim: two schemas may share a
/// name only if they store the same type with the same codec there, and only one schema may
/// have an owner field.
#[derive(Default)]
pub(crate) struct Schemas {
    /// Each schema seen, and whether it may be used: a read lock on the path of every
    /// extraction after the first of its schema.
    checked: RwLock<HashMap<TypeId, Result<(), Arc<str>>>>,
    /// Who claimed each stored name, and the owner field.
    claims: Mutex<Claims>,
}

#[derive(Default)]
struct Claims {
    names: HashMap<&'static str, (&'static str, FieldInfo)>,
    owner: Option<(&'static str, &'static str)>,
}

impl Schemas {
    /// Whether schema `T` may be used beside those used before it under this layer. A
    /// conflict is logged when it is found and answered every time after.
    pub(crate) fn check<T: Tracked>(&self) -> Result<(), SessionError> {
        let key = TypeId::of::<T>();
        let known = self
            .checked
            .read()
            .unwrap_or_else(PoisonError::into_inner)
            .get(&key)
            .cloned();
        let result = match known {
            Some(result) => result,
            None => {
                let result = self.claim::<T>();
                if let Err(conflict) = &result {
                    tracing::error!(%conflict, "session schemas conflict");
                }
                self.checked
                    .write()
                    .unwrap_or_else(PoisonError::into_inner)
                    .insert(key, result.clone());
                result
            }
        };
        result.map_err(SessionError::SchemaConflict)
    }

    fn claim<T: Tracked>(&self) -> Result<(), Arc<str>> {
        let schema = std::any::type_name::<T::Data>();
        let fields = T::fields();
        let mut claims = self.claims.lock().unwrap_or_else(PoisonError::into_inner);
        for field in &fields {
            if let Some((other, theirs)) = claims.names.get(field.name)
                && *other != schema
                && theirs.encoding != field.encoding
            {
                return Err(format!(
                    "`{schema}` stores a `{}` under the name \"{}\", where `{other}` stores a \
                     `{}` (or the same type with another codec); give one of the schemas a \
                     `#[session(namespace = \"...\")]`",
                    field.type_name, field.name, theirs.type_name,
                )
                .into());
            }
            // Two schemas may share the owner field (the same stored name, checked above), not
            // have one each.
            if field.owner
                && let Some((other, name)) = claims.owner
                && other != schema
                && name != field.name
            {
                return Err(format!(
                    "`{schema}` and `{other}` both have an owner field (\"{}\" and \"{name}\"), \
                     and a session has one owner; keep the owner field in one schema",
                    field.name,
                )
                .into());
            }
        }
        for field in fields {
            if field.owner {
                claims.owner = Some((schema, field.name));
            }
            claims.names.entry(field.name).or_insert((schema, field));
        }
        Ok(())
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
        Sink { fields, log, owner }.field("n", &value, field_codec::<Postcard, u32>(), || 0);
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
        let corrupt = LazyField::<u32>::stored(&fields, "n");
        assert_eq!(
            *corrupt.get(|b| field_codec::<Postcard, _>().decode_field(b, "n", || 42)),
            42
        );
        let missing = LazyField::<u32>::stored(&fields, "missing");
        assert_eq!(
            *missing.get(|b| field_codec::<Postcard, _>().decode_field(b, "missing", || 7)),
            7
        );
    }

    #[test]
    fn a_field_is_decoded_on_first_access_only() {
        fn decode(bytes: Option<&[u8]>) -> u32 {
            field_codec::<Postcard, u32>().decode_field(bytes, "n", || 0)
        }
        let mut fields = Fields::new();
        fields.insert("n".into(), Bytes::from(Postcard::encode(&5u32).unwrap()));
        let mut field = LazyField::<u32>::stored(&fields, "n");
        assert!(!field.is_decoded(), "loading decodes nothing");
        assert_eq!(*field.get(decode), 5);
        assert!(field.is_decoded());
        *field.get_mut(decode) += 1;
        assert_eq!(field.take(decode), 6);

        let mut replaced = LazyField::<u32>::stored(&fields, "n");
        replaced.set(9);
        assert_eq!(*replaced.get(decode), 9, "a set value wins");
        let mut changed = LazyField::<u32>::stored(&fields, "n");
        *changed.get_mut(decode) += 10;
        assert_eq!(*changed.get(decode), 15, "changed in place");
    }
}
