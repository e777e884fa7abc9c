//! Raw identifiers: stored under the name without `r#`, getter keeps `r#`, the other
//! accessors are built from the plain name.
#![deny(warnings)]

use sessionly::__private::{Fields, Tracked};
use sessionly::{Codec, Postcard, SessionData};

#[derive(SessionData)]
struct Keywords {
    r#type: Option<String>,
    r#match: u8,
    #[session(rename = "loop")]
    r#loop: bool,
}

fn main() {
    let mut fields = Fields::new();
    fields.insert(
        "type".into(),
        Postcard::encode(&Some("admin")).unwrap().into(),
    );
    fields.insert("match".into(), Postcard::encode(&3u8).unwrap().into());
    fields.insert("loop".into(), Postcard::encode(&true).unwrap().into());
    let mut keywords = <<Keywords as SessionData>::Tracked as Tracked>::load(&fields);
    assert_eq!(keywords.r#type().as_deref(), Some("admin"));
    assert_eq!(*keywords.r#match(), 3);
    assert!(*keywords.r#loop());

    keywords.set_type(None);
    *keywords.match_mut() += 1;
    assert_eq!(keywords.take_match(), 4);
    keywords.reset_loop();
    assert!(!*keywords.r#loop());
    assert_eq!(*keywords.r#type(), None);
}
