// The data cannot be changed behind the tracking's back: `data()` is read-only, and outside the
// module that defines the struct the tracked view's fields are private.
use sessionly::TypedSession;

mod schema {
    #[derive(sessionly::SessionData)]
    pub struct Account {
        pub user_id: Option<u64>,
    }
}

async fn handler(mut session: TypedSession<schema::Account>) {
    session.whole = None;
}

async fn read_only(mut session: TypedSession<schema::Account>) {
    session.data().user_id = Some(7);
}

fn main() {
    let _ = (handler, read_only);
}
