//! Rows as the SQLite and PostgreSQL stores' `SELECT`s answer them, with any content: each
//! session read (a corrupt field left out) or left out, never a panic.
#![no_main]

use arbitrary::Arbitrary;

#[derive(Debug, Arbitrary)]
struct Input {
    sqlite: Vec<sessionly::__fuzz::SqliteRow>,
    postgres: sessionly::__fuzz::PostgresRow,
}

libfuzzer_sys::fuzz_target!(|input: Input| {
    let mut rows = input.sqlite;
    // The store's query sorts by id; the parser relies on it.
    rows.sort_by(|a, b| a.0.cmp(&b.0));
    let sessions = sessionly::__fuzz::sqlite_rows(rows.clone());
    for (id, record) in sessions
        .iter()
        .filter_map(|(id, r)| Some((id, r.as_ref()?)))
    {
        // Every field read comes from a row of that session.
        for name in record.fields.keys() {
            assert!(
                rows.iter()
                    .any(|r| r.0 == id.as_bytes() && r.4.as_deref() == Some(name.as_str())),
                "field {name} of {id} from no row of it"
            );
        }
    }
    if let Some((id, record)) = sessionly::__fuzz::postgres_row(input.postgres.clone()) {
        assert_eq!(id, input.postgres.0);
        let names = input.postgres.4.unwrap_or_default();
        assert!(record.fields.keys().all(|name| names.contains(name)));
    }
});
