//! A session as a Redis hash: its fields, reading one back, and building the commands that
//! write one.
//!
//! The key is `<prefix><id>`. Inside, field `v` marks the format (`1`), `c` holds the cookie
//! state, `o` the owner (absent for a session without one) and `f:<name>` each encoded data
//! field. Loading is one `HGETALL`. A whole write replaces the hash. A patch writes only the
//! fields it changed, with the cookie state, the owner and the expiry, in one `MULTI`
//! transaction, so two requests that change different fields of one session both keep their
//! change. Redis deletes the key at the session's store expiry (its idle expiry capped by its
//! absolute one).
//!
//! Only whole writes set `v`, and a hash without it is not a session. That is how a patch or
//! touch of a session that was destroyed or expired writes nothing a read would take for it: a
//! touch (a script) checks `v` first and writes nothing; a patch checks `v` at the end of its
//! transaction, and if it is missing deletes what it wrote and answers [`StoreError::Gone`].
//! Patches need no script: a patch is the write of every request that changes a field, and
//! running a script costs Redis several times what the same commands cost in a transaction.

use std::collections::BTreeSet;
use std::io::Write as _;

use ::redis::{Cmd, RedisError, RedisWrite as _};

use super::backend;
use crate::record::{CookieState, Fields, Record};
use crate::store::StoreError;

/// A bulk reply that may be nil.
pub(super) type Bulk = Option<Vec<u8>>;

pub(super) const COOKIE_FIELD: &[u8] = b"c";
/// Written by every whole write, never by a patch: a hash without it is not a session.
pub(super) const VERSION_FIELD: &[u8] = b"v";
pub(super) const VERSION: &[u8] = b"1";
pub(super) const OWNER_FIELD: &[u8] = b"o";
pub(super) const FIELD_PREFIX: &[u8] = b"f:";

pub(super) fn field_key(name: &str) -> Vec<u8> {
    [FIELD_PREFIX, name.as_bytes()].concat()
}

/// A command named `name` with room for arguments of the given lengths, so that adding them
/// allocates nothing more.
pub(super) fn command(name: &str, lengths: impl IntoIterator<Item = usize>) -> Cmd {
    let mut command = Cmd::with_capacity(1, name.len());
    command.arg(name);
    command.reserve_space_for_args(lengths);
    command
}

/// The command `name args...`, built in one allocation per buffer.
pub(super) fn command_with<const N: usize>(name: &str, args: [&[u8]; N]) -> Cmd {
    let mut command = command(name, args.map(<[u8]>::len));
    for arg in args {
        command.arg(arg);
    }
    command
}

/// `PEXPIREAT key at`.
pub(super) fn pexpireat(key: &[u8], at: u64) -> Cmd {
    // At most 16 digits (`MAX_EXPIRY_MS`).
    let mut command = command("PEXPIREAT", [key.len(), 16]);
    command.arg(key).arg(at);
    command
}

/// Adds the hash field of session field `name` (`f:<name>`) to `command`, written straight
/// into its buffer.
pub(super) fn field_arg(command: &mut Cmd, name: &str) {
    let mut arg = command.writer_for_next_arg();
    // Writing into the command's buffer cannot fail.
    let _ = arg
        .write_all(FIELD_PREFIX)
        .and_then(|()| arg.write_all(name.as_bytes()));
}

/// An owner as stored; one that is not UTF-8 was never written by this store.
pub(super) fn owner_of(bytes: Vec<u8>) -> Option<String> {
    String::from_utf8(bytes).ok()
}

/// What a read of a session key answered; a key of another type (something else wrote there) is
/// not a session: logged and missing (`None`), so its client gets a new session instead of an
/// error on every request until the key goes.
pub(super) fn readable<T>(loaded: Result<T, RedisError>) -> Result<Option<T>, StoreError> {
    match loaded {
        Ok(value) => Ok(Some(value)),
        Err(error) if error.code() == Some("WRONGTYPE") => {
            tracing::warn!(
                "a key of another type is where a session would be; treating the session as missing"
            );
            Ok(None)
        }
        Err(error) => Err(backend(error)),
    }
}

/// A record from `HGETALL`; a hash without the format marker is not a session, and one
/// without a readable cookie state or owner is logged; both are missing.
pub(crate) fn parse(entries: Vec<(Vec<u8>, Vec<u8>)>) -> Option<Record> {
    if entries.is_empty() {
        return None;
    }
    let mut cookie = None;
    let mut owner = None;
    let mut version = None;
    let mut fields = Fields::new();
    for (name, value) in entries {
        if name == VERSION_FIELD {
            version = Some(value);
        } else if name == COOKIE_FIELD {
            cookie = Some(value);
        } else if name == OWNER_FIELD {
            owner = Some(value);
        } else if let Some(field) = name.strip_prefix(FIELD_PREFIX)
            && let Ok(field) = String::from_utf8(field.to_vec())
        {
            fields.insert(field, value.into());
        }
    }
    match version.as_deref() {
        Some(VERSION) => {}
        Some(other) => {
            tracing::warn!(version = %String::from_utf8_lossy(other), "session hash in Redis has an unknown format; treating it as missing");
            return None;
        }
        None => {
            // What a patch left of a session that ended before it landed (deleted right after).
            tracing::debug!("hash without a format marker in Redis; not a session");
            return None;
        }
    }
    let owner = match owner.map(String::from_utf8).transpose() {
        Ok(owner) => owner,
        Err(error) => {
            tracing::warn!(%error, "session owner in Redis is not UTF-8; treating the session as missing");
            return None;
        }
    };
    match cookie.as_deref().map(CookieState::decode) {
        Some(Ok(cookie)) => Some(Record {
            cookie,
            fields,
            owner,
        }),
        Some(Err(error)) => {
            tracing::warn!(%error, "corrupt session record in Redis; treating it as missing");
            None
        }
        None => {
            tracing::warn!("session hash in Redis has no cookie state; treating it as missing");
            None
        }
    }
}

/// The session as Redis holds it after a patch of `base`: `record`'s value (or absence) for each
/// field in `names`, `record`'s cookie state, and `owner`.
pub(super) fn patched(
    mut base: Record,
    record: &Record,
    names: &BTreeSet<String>,
    owner: Option<String>,
) -> Record {
    for name in names {
        match record.fields.get(name) {
            Some(value) => {
                base.fields.insert(name.clone(), value.clone());
            }
            None => {
                base.fields.remove(name);
            }
        }
    }
    base.cookie = record.cookie.clone();
    base.owner = owner;
    base
}
