//! Requests that share one session at the same time.

mod common;

use common::*;
use session::{Codec, MemoryStore, Postcard, Store};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_requests_on_one_session_lose_no_writes() {
    let store = MemoryStore::new();
    let app = app(layer_with(store.clone(), |b| b.resave(false)));
    let cookie = get_with(&app, "/name/start", None).await.cookie().unwrap();

    // Half the requests bump `views`, half push to `cart`: different fields, patched one by one.
    let mut tasks = Vec::new();
    for i in 0..64u32 {
        let (app, cookie) = (app.clone(), cookie.clone());
        tasks.push(tokio::spawn(async move {
            let path = if i % 2 == 0 {
                "/views".to_owned()
            } else {
                format!("/cart/{i}")
            };
            get_with(&app, &path, Some(&cookie)).await.status
        }));
    }
    for task in tasks {
        assert_eq!(task.await.unwrap(), 200);
    }
    let id = id_of(&cookie);
    let record = store.get(&id).await.unwrap().expect("session still there");
    let cart: Vec<Item> = Postcard::decode(&record.fields["cart"]).expect("cart decodes");
    let views: u64 = Postcard::decode(&record.fields["views"]).expect("views decodes");
    // Increments of one field race with each other (read-modify-write), but never with the
    // other field, and nothing is torn: every value decodes.
    assert!((1..=32).contains(&views), "{views}");
    assert!(!cart.is_empty() && cart.len() <= 32, "{}", cart.len());
    assert_eq!(
        get_with(&app, "/whoami", Some(&cookie)).await.body,
        format!("start:{views}")
    );
}
