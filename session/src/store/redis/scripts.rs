//! The Lua scripts the store runs, one file each in `scripts/`: what each does, takes and
//! answers is written at its top. Each touches a single key (or two in one hash slot), so it
//! runs on one node of a cluster.

use ::redis::Script;

/// Sent as text with `EVAL` (so that it can be pipelined), not by SHA like the others.
pub(super) const DESTROY_IF_OWNED: &str = include_str!("scripts/destroy_if_owned.lua");

/// The scripts run by SHA (`EVALSHA`, loading them on a `NOSCRIPT` reply).
#[derive(Clone)]
pub(super) struct Scripts {
    pub(super) get_within: Script,
    pub(super) drop_stray: Script,
    pub(super) touch: Script,
    pub(super) destroy: Script,
    pub(super) index: Script,
    pub(super) release: Script,
    pub(super) write_leased: Script,
}

impl Scripts {
    pub(super) fn new() -> Self {
        Self {
            get_within: Script::new(include_str!("scripts/get_within.lua")),
            drop_stray: Script::new(include_str!("scripts/drop_stray.lua")),
            touch: Script::new(include_str!("scripts/touch.lua")),
            destroy: Script::new(include_str!("scripts/destroy.lua")),
            index: Script::new(include_str!("scripts/index.lua")),
            release: Script::new(include_str!("scripts/release.lua")),
            write_leased: Script::new(include_str!("scripts/write_leased.lua")),
        }
    }
}
