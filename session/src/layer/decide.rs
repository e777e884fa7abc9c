//! The end-of-request decision — save? touch? destroy? send the cookie? — as one pure
//! function of the options and what happened to the session, following express-session's
//! `shouldSave`, `shouldTouch`, `shouldSetCookie` and `shouldDestroy`.

use crate::config::Unset;

/// The options that take part in the decision.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Options {
    pub(crate) rolling: bool,
    pub(crate) save_uninitialized: bool,
    pub(crate) save_on_error: bool,
}

/// How the handler left the session.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Ending {
    /// Still there (possibly regenerated).
    Active,
    /// `destroy()` was called and the store has deleted it.
    Destroyed,
    /// `unset()` was called.
    Unset(Unset),
}

/// What happened to the session during the request.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Facts {
    pub(crate) ending: Ending,
    /// The request's cookie named the session's current id (it was loaded and kept its id).
    pub(crate) cookie_id_matches: bool,
    /// The request carried a validly signed session cookie, whatever became of its id.
    pub(crate) had_cookie: bool,
    /// The data, the id or the cookie state differ from what the request started with.
    pub(crate) modified: bool,
    /// The handler changed the cookie's lifetime or attributes.
    pub(crate) cookie_changed: bool,
    /// The store holds some version of this session from this request (loaded with
    /// `resave: false`, or saved explicitly) — express's `savedHash` is set.
    pub(crate) ever_saved: bool,
    /// The store holds exactly the current state.
    pub(crate) saved: bool,
    /// The cookie has an expiry (it is not a browser-session cookie).
    pub(crate) has_expires: bool,
    /// The cookie may be sent: it is not `Secure`, or the connection is secure.
    pub(crate) can_send_cookie: bool,
    /// The response is a server error (5xx).
    pub(crate) server_error: bool,
    /// A touch would move the stored expiry enough to be worth a store call (see
    /// `touch_due` in the middleware).
    pub(crate) touch_due: bool,
}

/// What the store should do.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum StoreAction {
    Nothing,
    Save,
    Touch,
    Destroy,
}

/// What the response's `Set-Cookie` should do.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum CookieAction {
    Nothing,
    Set,
    /// Expire the client's cookie: its session is gone.
    Clear,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Decision {
    pub(crate) store: StoreAction,
    pub(crate) cookie: CookieAction,
    /// The session's cookie should go out but may not: it is `Secure` and the connection is
    /// not (the layer warns about this once).
    pub(crate) withheld: bool,
}

pub(crate) fn decide(options: Options, facts: Facts) -> Decision {
    let clear_if_sent = if facts.had_cookie && facts.can_send_cookie {
        CookieAction::Clear
    } else {
        CookieAction::Nothing
    };
    let (store, cookie) = match facts.ending {
        Ending::Destroyed => (StoreAction::Nothing, clear_if_sent),
        Ending::Unset(Unset::Keep) => (StoreAction::Nothing, CookieAction::Nothing),
        Ending::Unset(Unset::Destroy) => (StoreAction::Destroy, clear_if_sent),
        Ending::Active => return active(options, facts),
    };
    Decision {
        store,
        cookie,
        withheld: false,
    }
}

fn active(options: Options, facts: Facts) -> Decision {
    if facts.server_error && !options.save_on_error {
        // The handler failed partway: what it left in the session may be half a change.
        return Decision {
            store: StoreAction::Nothing,
            cookie: CookieAction::Nothing,
            withheld: false,
        };
    }
    // A new (or regenerated) session that was never saved is only saved once it holds
    // something, unless saveUninitialized; everything else is saved when the store's copy
    // differs from the current state (always, with resave, since then nothing counts as saved).
    let save = if !options.save_uninitialized && !facts.ever_saved && !facts.cookie_id_matches {
        facts.modified
    } else {
        !facts.saved
    };
    let send = if facts.cookie_id_matches {
        // The client has the cookie: resend it to move its expiry (rolling, or a modified
        // session with an expiry) or because the handler changed the cookie itself.
        options.rolling || (facts.has_expires && facts.modified) || facts.cookie_changed
    } else {
        // A new id: the client needs it if the session is (or was explicitly) stored.
        options.save_uninitialized || facts.modified || facts.ever_saved
    };
    let withheld = send && !facts.can_send_cookie;
    // A resent cookie needs the touch even when the expiry barely moves: it is what finds out
    // that another request ended the session meanwhile, so the dead id is not handed back.
    // A session whose id the client does not have, and cannot be given (a `Secure` cookie on a
    // plain connection), is not stored: no request could ever load it (express stores it).
    let store = if !facts.cookie_id_matches && !facts.can_send_cookie {
        StoreAction::Nothing
    } else if save {
        StoreAction::Save
    } else if facts.cookie_id_matches && (facts.touch_due || send) {
        StoreAction::Touch
    } else {
        StoreAction::Nothing
    };
    Decision {
        store,
        cookie: if send && facts.can_send_cookie {
            CookieAction::Set
        } else {
            CookieAction::Nothing
        },
        withheld,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use CookieAction as C;
    use StoreAction as S;

    /// A loaded session the handler did not change, `resave: false`, everything sendable.
    fn loaded() -> Facts {
        Facts {
            ending: Ending::Active,
            cookie_id_matches: true,
            had_cookie: true,
            modified: false,
            cookie_changed: false,
            ever_saved: true,
            saved: true,
            has_expires: true,
            can_send_cookie: true,
            server_error: false,
            touch_due: true,
        }
    }

    /// A session created by this request, untouched.
    fn fresh() -> Facts {
        Facts {
            cookie_id_matches: false,
            had_cookie: false,
            ever_saved: false,
            saved: false,
            ..loaded()
        }
    }

    fn modified(f: Facts) -> Facts {
        Facts {
            modified: true,
            saved: false,
            ..f
        }
    }

    /// `resave: true` means the loaded state never counts as saved.
    fn resaved(f: Facts) -> Facts {
        Facts {
            ever_saved: false,
            saved: false,
            ..f
        }
    }

    fn regenerated(f: Facts) -> Facts {
        Facts {
            cookie_id_matches: false,
            modified: true,
            ever_saved: false,
            saved: false,
            ..f
        }
    }

    #[test]
    fn decisions_follow_express() {
        #[rustfmt::skip]
        let table: &[(&str, bool, bool, Facts, S, C)] = &[
            // name,                                  rolling, saveUninit, facts,  store, cookie
            ("new untouched, saveUninitialized",        false, true,  fresh(), S::Save, C::Set),
            ("new untouched, !saveUninitialized",       false, false, fresh(), S::Nothing, C::Nothing),
            ("new untouched, rolling, !saveUninit",     true,  false, fresh(), S::Nothing, C::Nothing),
            ("new modified, !saveUninitialized",        false, false, modified(fresh()), S::Save, C::Set),
            ("new explicitly saved, !saveUninit",       false, false, Facts { ever_saved: true, saved: true, ..fresh() }, S::Nothing, C::Set),
            ("new saved then modified, !saveUninit",    false, false, Facts { ever_saved: true, ..modified(fresh()) }, S::Save, C::Set),
            ("loaded unmodified",                       false, false, loaded(), S::Touch, C::Nothing),
            ("loaded unmodified, rolling",              true,  false, loaded(), S::Touch, C::Set),
            ("loaded, touched moments ago",             false, false, Facts { touch_due: false, ..loaded() }, S::Nothing, C::Nothing),
            ("loaded, touched moments ago, rolling",    true,  false, Facts { touch_due: false, ..loaded() }, S::Touch, C::Set),
            ("loaded modified, touched moments ago",    false, false, Facts { touch_due: false, ..modified(loaded()) }, S::Save, C::Set),
            ("loaded unmodified, resave",               false, false, resaved(loaded()), S::Save, C::Nothing),
            ("loaded unmodified, resave + rolling",     true,  true,  resaved(loaded()), S::Save, C::Set),
            ("loaded modified, with expiry",            false, false, modified(loaded()), S::Save, C::Set),
            ("loaded modified, browser cookie",         false, false, Facts { has_expires: false, ..modified(loaded()) }, S::Save, C::Nothing),
            ("loaded modified, explicitly saved",       false, false, Facts { modified: true, ..loaded() }, S::Touch, C::Set),
            ("loaded, cookie lifetime changed",         false, false, Facts { cookie_changed: true, has_expires: false, ..modified(loaded()) }, S::Save, C::Set),
            ("regenerated",                             false, false, regenerated(loaded()), S::Save, C::Set),
            ("regenerated, resave",                     false, true,  regenerated(resaved(loaded())), S::Save, C::Set),
            ("secure cookie over http: neither saved nor sent", false, true, Facts { can_send_cookie: false, ..fresh() }, S::Nothing, C::Nothing),
            ("secure cookie over http, modified",       false, false, Facts { can_send_cookie: false, ..modified(fresh()) }, S::Nothing, C::Nothing),
            ("secure cookie over http, regenerated",    false, false, Facts { can_send_cookie: false, ..regenerated(loaded()) }, S::Nothing, C::Nothing),
            ("secure cookie over http, loaded modified", false, false, Facts { can_send_cookie: false, ..modified(loaded()) }, S::Save, C::Nothing),
            ("destroyed, had cookie",                   true,  true,  Facts { ending: Ending::Destroyed, ..loaded() }, S::Nothing, C::Clear),
            ("destroyed new session",                   true,  true,  Facts { ending: Ending::Destroyed, ..fresh() }, S::Nothing, C::Nothing),
            ("unset keep",                              true,  true,  Facts { ending: Ending::Unset(Unset::Keep), ..modified(loaded()) }, S::Nothing, C::Nothing),
            ("unset destroy",                           true,  true,  Facts { ending: Ending::Unset(Unset::Destroy), ..loaded() }, S::Destroy, C::Clear),
            ("5xx: nothing saved or sent",              true,  true,  Facts { server_error: true, ..modified(loaded()) }, S::Nothing, C::Nothing),
            ("5xx, new session: nothing saved",         false, true,  Facts { server_error: true, ..fresh() }, S::Nothing, C::Nothing),
            ("5xx, destroyed: still cleared",           false, true,  Facts { server_error: true, ending: Ending::Destroyed, ..loaded() }, S::Nothing, C::Clear),
            ("unset destroy, insecure",                 true,  true,  Facts { ending: Ending::Unset(Unset::Destroy), can_send_cookie: false, ..loaded() }, S::Destroy, C::Nothing),
        ];
        for &(name, rolling, save_uninitialized, facts, store, cookie) in table {
            if facts.server_error {
                let saving = Options {
                    rolling,
                    save_uninitialized,
                    save_on_error: true,
                };
                let as_if_ok = decide(
                    saving,
                    Facts {
                        server_error: false,
                        ..facts
                    },
                );
                assert_eq!(decide(saving, facts), as_if_ok, "save_on_error: {name}");
            }
            let options = Options {
                rolling,
                save_uninitialized,
                save_on_error: false,
            };
            let decision = decide(options, facts);
            assert_eq!((decision.store, decision.cookie), (store, cookie), "{name}");
        }
    }

    /// What the request did, in express-session's own terms (`index.js`): the ids, the hashes
    /// of the session, and the options. Independent of `Facts`, which the model below and the
    /// middleware's bookkeeping each derive from it.
    #[derive(Debug, Clone, Copy)]
    struct Express {
        /// The cookie named a stored session (`cookieId`, and `originalId` is that id).
        loaded: bool,
        /// The request carried a signed cookie that named no stored session.
        stale_cookie: bool,
        /// `req.sessionID` differs from `originalId`: `regenerate()`.
        regenerated: bool,
        /// `hash(req.session)` differs from `originalHash`.
        data_changed: bool,
        /// The handler changed the cookie's lifetime or attributes (here a change; express
        /// leaves it out of the hash: a deliberate difference).
        cookie_changed: bool,
        /// `savedHash`: `None` unset, `Some(true)` equal to the current hash, `Some(false)` an
        /// older state's. Set by loading with `resave: false`, or by an explicit `save()`.
        saved_hash: Option<bool>,
        resave: bool,
        expires: bool,
        secure_ok: bool,
        touch_due: bool,
        rolling: bool,
        save_uninitialized: bool,
    }

    impl Express {
        fn cookie_id_matches(&self) -> bool {
            self.loaded && !self.regenerated
        }

        fn is_modified(&self) -> bool {
            self.regenerated || self.data_changed || self.cookie_changed
        }

        fn is_saved(&self) -> bool {
            !self.regenerated && self.saved_hash == Some(true) && !self.cookie_changed
        }

        /// `shouldSave`.
        fn should_save(&self) -> bool {
            if !self.save_uninitialized && self.saved_hash.is_none() && !self.cookie_id_matches() {
                self.is_modified()
            } else {
                !self.is_saved()
            }
        }

        /// `shouldTouch`.
        fn should_touch(&self) -> bool {
            self.cookie_id_matches() && !self.should_save()
        }

        /// `shouldSetCookie`, plus the two documented differences: a cookie change resends
        /// the cookie, and a new session saved explicitly gets its cookie.
        fn should_set_cookie(&self) -> bool {
            if self.cookie_id_matches() {
                self.rolling || (self.expires && self.is_modified()) || self.cookie_changed
            } else {
                self.save_uninitialized || self.is_modified() || self.saved_hash.is_some()
            }
        }

        /// The facts the middleware would gather for this request.
        fn facts(&self) -> Facts {
            Facts {
                ending: Ending::Active,
                cookie_id_matches: self.cookie_id_matches(),
                had_cookie: self.loaded || self.stale_cookie,
                modified: self.is_modified(),
                cookie_changed: self.cookie_changed,
                ever_saved: self.saved_hash.is_some(),
                saved: self.is_saved(),
                has_expires: self.expires,
                can_send_cookie: self.secure_ok,
                server_error: false,
                touch_due: self.touch_due,
            }
        }
    }

    fn express() -> impl proptest::strategy::Strategy<Value = Express> {
        use proptest::prelude::*;
        (
            (any::<bool>(), any::<bool>(), any::<bool>(), any::<bool>()),
            (
                any::<bool>(),
                any::<Option<bool>>(),
                any::<bool>(),
                any::<bool>(),
            ),
            (any::<bool>(), any::<bool>(), any::<bool>(), any::<bool>()),
        )
            .prop_map(|(a, b, c)| {
                let (loaded, stale_cookie, regenerated, data_changed) = a;
                let (cookie_changed, saved_hash, resave, expires) = b;
                let (secure_ok, touch_due, rolling, save_uninitialized) = c;
                let mut e = Express {
                    loaded,
                    stale_cookie: stale_cookie && !loaded,
                    regenerated,
                    data_changed,
                    cookie_changed,
                    saved_hash,
                    resave,
                    expires,
                    secure_ok,
                    touch_due,
                    rolling,
                    save_uninitialized,
                };
                // What express's bookkeeping allows: loading with `resave: false` sets
                // `savedHash` to the loaded state; with `resave: true` it stays unset until an
                // explicit save. A regenerated session starts unsaved, and its old savedHash
                // does not count.
                if e.loaded && !e.resave && e.saved_hash.is_none() {
                    e.saved_hash = Some(!e.data_changed && !e.cookie_changed);
                }
                if e.regenerated {
                    e.saved_hash = None;
                }
                e
            })
    }

    proptest::proptest! {
        #![proptest_config(proptest::test_runner::Config::with_cases(4096))]

        /// Every combination agrees with express-session's four functions, as amended by the
        /// list of deliberate differences in `guide::express_differences`: the touch throttle (a touch only when due
        /// or when the cookie is resent), the cookie change, the explicit save's cookie.
        #[test]
        fn the_decision_is_express_s(e in express()) {
            let options = Options {
                rolling: e.rolling,
                save_uninitialized: e.save_uninitialized,
                save_on_error: false,
            };
            let decision = decide(options, e.facts());
            let send = e.should_set_cookie();
            // The one deliberate difference in storing: a new session whose cookie cannot be
            // sent (`Secure` over plain HTTP) is not stored.
            let expected_store = if !e.cookie_id_matches() && !e.secure_ok {
                S::Nothing
            } else if e.should_save() {
                S::Save
            } else if e.should_touch() && (e.touch_due || send) {
                S::Touch
            } else {
                S::Nothing
            };
            proptest::prop_assert_eq!(decision.store, expected_store, "{:?}", e);
            let expected_cookie = if send && e.secure_ok { C::Set } else { C::Nothing };
            proptest::prop_assert_eq!(decision.cookie, expected_cookie, "{:?}", e);
            proptest::prop_assert_eq!(decision.withheld, send && !e.secure_ok, "{:?}", e);
        }

        /// A 5xx leaves the store and the cookie alone unless `save_on_error`, which decides as
        /// if the response were fine; endings other than `Active` ignore it.
        #[test]
        fn a_server_error_saves_nothing_unless_asked(e in express(), keep in proptest::bool::ANY) {
            let options = |save_on_error| Options {
                rolling: e.rolling,
                save_uninitialized: e.save_uninitialized,
                save_on_error,
            };
            let failed = Facts { server_error: true, ..e.facts() };
            proptest::prop_assert_eq!(
                decide(options(false), failed),
                Decision { store: S::Nothing, cookie: C::Nothing, withheld: false }
            );
            proptest::prop_assert_eq!(decide(options(true), failed), decide(options(true), e.facts()));
            let unset = if keep { Unset::Keep } else { Unset::Destroy };
            for ending in [Ending::Destroyed, Ending::Unset(unset)] {
                let ended = Facts { ending, ..e.facts() };
                proptest::prop_assert_eq!(
                    decide(options(false), Facts { server_error: true, ..ended }),
                    decide(options(false), ended)
                );
            }
        }

        /// `shouldDestroy` (unset: destroy) and destroy(): the store deletes only for
        /// `Unset::Destroy` (destroy() already did), and the client's cookie is cleared when it
        /// had one and it can be sent — a deliberate difference from express, which leaves it.
        #[test]
        fn ended_sessions(e in express(), keep in proptest::bool::ANY) {
            let options = Options {
                rolling: e.rolling,
                save_uninitialized: e.save_uninitialized,
                save_on_error: false,
            };
            let facts = e.facts();
            let clear = if facts.had_cookie && facts.can_send_cookie { C::Clear } else { C::Nothing };
            let unset = if keep { Unset::Keep } else { Unset::Destroy };
            let unset_decision = decide(options, Facts { ending: Ending::Unset(unset), ..facts });
            let expected = if keep {
                Decision { store: S::Nothing, cookie: C::Nothing, withheld: false }
            } else {
                Decision { store: S::Destroy, cookie: clear, withheld: false }
            };
            proptest::prop_assert_eq!(unset_decision, expected);
            proptest::prop_assert_eq!(
                decide(options, Facts { ending: Ending::Destroyed, ..facts }),
                Decision { store: S::Nothing, cookie: clear, withheld: false }
            );
        }
    }
}
