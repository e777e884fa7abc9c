//! Generic structs: type, const and defaulted parameters, an existing where clause, and a
//! parameter without `Default` that is only used through `default = ...`.
#![deny(warnings)]

use serde::{Deserialize, Serialize};
use sessionly::__private::{Fields, Tracked};
use sessionly::{Codec, Postcard, SessionData};

#[derive(SessionData)]
struct Wrapper<T> {
    value: T,
    list: Vec<T>,
    count: u32,
}

/// No `Default`: the field of this type names a default function instead.
#[derive(Debug, PartialEq, Serialize, Deserialize)]
struct Level(u8);

fn level<L: From<Level>>() -> L {
    L::from(Level(1))
}

#[derive(SessionData)]
struct Tuned<L, const N: usize, E = String>
where
    L: From<Level>,
{
    #[session(default = level)]
    level: L,
    bytes: [u8; N],
    extra: Option<E>,
    #[session(skip)]
    local: Vec<L>,
}

fn load<T: SessionData>(fields: &Fields) -> T::Tracked {
    <T::Tracked as Tracked>::load(fields)
}

fn main() {
    let mut fields = Fields::new();
    fields.insert("value".into(), Postcard::encode(&41u64).unwrap().into());
    let mut wrapper = load::<Wrapper<u64>>(&fields);
    assert_eq!(*wrapper.value(), 41);
    *wrapper.value_mut() += 1;
    let value = *wrapper.value();
    wrapper.list_mut().push(value);
    assert_eq!(wrapper.take_list(), [42]);
    assert_eq!(*wrapper.count(), 0);

    let strings = load::<Wrapper<String>>(&Fields::new());
    assert_eq!(strings.value(), "");

    let mut fields = Fields::new();
    fields.insert(
        "bytes".into(),
        Postcard::encode(&[1u8, 2, 3, 4]).unwrap().into(),
    );
    let mut tuned = load::<Tuned<Level, 4>>(&fields);
    assert_eq!(*tuned.level(), Level(1));
    assert_eq!(*tuned.bytes(), [1, 2, 3, 4]);
    assert_eq!(*tuned.extra(), None::<String>);
    tuned.set_level(Level(3));
    tuned.reset_level();
    assert_eq!(*tuned.level(), Level(1));
    tuned.local_mut().push(Level(9));
    assert_eq!(tuned.local().len(), 1);
}
