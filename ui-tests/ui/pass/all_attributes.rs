//! Every attribute at once, under `#![deny(missing_docs)]` and warnings.
#![deny(missing_docs, warnings)]

use sessionly::__private::{Fields, Tracked};
use sessionly::{Codec, Postcard, SessionData};

fn seven() -> u32 {
    7
}

fn greeting() -> String {
    "hello".to_owned()
}

/// A session schema using every attribute.
#[derive(SessionData)]
#[session(codec = ::sessionly::Postcard)]
pub struct Everything {
    /// Plain field.
    pub plain: Option<u64>,
    /// With a default function, as a path.
    #[session(default = seven)]
    pub counter: u32,
    /// With a default function, as a string, and a stored name.
    #[session(default = "greeting", rename = "hi")]
    pub greeting: String,
    /// A flash message, attributes in two lists.
    #[session(flash)]
    #[session(rename = "flash_notice")]
    pub notice: Option<String>,
    /// Request-local.
    #[session(skip, default = seven)]
    pub scratch: u32,
    /// Other attributes are left alone.
    #[allow(dead_code)]
    #[doc(alias = "others")]
    pub other: Vec<String>,
}

fn main() {
    let mut fields = Fields::new();
    fields.insert("hi".into(), Postcard::encode("stored hi").unwrap().into());
    fields.insert(
        "flash_notice".into(),
        Postcard::encode(&Some("saved!")).unwrap().into(),
    );
    // Under its Rust name, `greeting` is not read.
    fields.insert("greeting".into(), Postcard::encode("wrong").unwrap().into());
    // A skip field is never read, even if the record has its name.
    fields.insert("scratch".into(), Postcard::encode(&99u32).unwrap().into());

    let mut tracked = <<Everything as SessionData>::Tracked as Tracked>::load(&fields);
    assert_eq!(*tracked.plain(), None);
    assert_eq!(*tracked.counter(), 7);
    assert_eq!(tracked.greeting(), "stored hi");
    assert_eq!(*tracked.scratch(), 7);
    assert!(tracked.other().is_empty());

    assert_eq!(tracked.take_notice().as_deref(), Some("saved!"));
    assert_eq!(*tracked.notice(), None);

    tracked.set_plain(Some(3));
    *tracked.counter_mut() += 1;
    assert_eq!(tracked.take_counter(), 8);
    assert_eq!(*tracked.counter(), 7);
    tracked.set_greeting("changed".to_owned());
    tracked.reset_greeting();
    assert_eq!(tracked.greeting(), "hello");
    tracked.set_scratch(1);
    *tracked.scratch_mut() += 1;
    assert_eq!(tracked.take_scratch(), 2);
    tracked.reset_scratch();
    tracked.other_mut().push("x".to_owned());
    assert_eq!(tracked.data().other, ["x"]);
    assert_eq!(tracked.data().plain, Some(3));
}
