//! A `pub` struct in a module, used from outside the module through its accessors only.
#![deny(missing_docs, warnings)]

use sessionly::__private::{Fields, Tracked};
use sessionly::SessionData;

/// The schema lives here; its fields are private to this module.
pub mod schema {
    use sessionly::SessionData;

    /// An account.
    #[derive(SessionData)]
    pub struct Account {
        user_id: Option<u64>,
        cart: Vec<u32>,
        #[session(flash)]
        notice: Option<String>,
    }
}

/// Also restricted visibility.
mod restricted {
    #[derive(sessionly::SessionData)]
    pub(crate) struct Prefs {
        pub(crate) theme: String,
    }
}

fn main() {
    let mut account = <<schema::Account as SessionData>::Tracked as Tracked>::load(&Fields::new());
    account.set_user_id(Some(7));
    account.cart_mut().push(42);
    account.set_notice(Some("welcome".to_owned()));
    assert_eq!(*account.user_id(), Some(7));
    assert_eq!(account.cart(), &[42]);
    assert_eq!(account.take_notice().as_deref(), Some("welcome"));
    assert_eq!(*account.notice(), None);
    account.reset_cart();
    assert!(account.cart().is_empty());

    let _: &schema::AccountTracked = &account;

    let mut prefs: restricted::PrefsTracked =
        <<restricted::Prefs as SessionData>::Tracked as Tracked>::load(&Fields::new());
    prefs.theme_mut().push_str("dark");
    assert_eq!(prefs.theme(), "dark");
}
