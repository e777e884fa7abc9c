//! `#[session(crate = path)]`: the runtime crate reached through another path (a renamed
//! dependency, or a re-export from a framework crate). The generated code names it only
//! through that path; `fail/crate_path_wrong.rs` shows a wrong path is an error.
#![deny(warnings)]

mod framework {
    pub use ::sessionly as sessions;
}

use framework::sessions::SessionData;
use framework::sessions::__private::{Fields, Tracked};

#[derive(SessionData)]
#[session(crate = crate::framework::sessions)]
struct Renamed {
    user_id: Option<u64>,
}

#[derive(SessionData)]
#[session(crate = crate::framework::sessions, codec = crate::framework::sessions::Json)]
struct ReExported {
    #[session(owner)]
    user: Option<String>,
}

fn main() {
    let renamed = <<Renamed as SessionData>::Tracked as Tracked>::load(&Fields::new());
    assert_eq!(*renamed.user_id(), None);
    let mut fields = Fields::new();
    fields.insert("user".into(), br#""ada""#.to_vec().into());
    let exported = <<ReExported as SessionData>::Tracked as Tracked>::load(&fields);
    assert_eq!(exported.user().as_deref(), Some("ada"));
}
