// A store may only declare a capability it implements: declaring the store-side turn
// (`Leases`) without implementing it is a compile error, so `store_turns` can never be given a
// store that only says it has leases.
use sessionly::store::{Capabilities, Changed, Record, Store, StoreError};

struct Forgetful;

impl Store for Forgetful {
    async fn get(&self, _: &str) -> Result<Option<Record>, StoreError> {
        Ok(None)
    }

    async fn set(&self, _: &str, _: &Record, _: Changed<'_>) -> Result<(), StoreError> {
        Ok(())
    }

    async fn destroy(&self, _: &str) -> Result<(), StoreError> {
        Ok(())
    }

    fn capabilities() -> Capabilities<Self> {
        Capabilities::none().leases()
    }
}

fn main() {}
