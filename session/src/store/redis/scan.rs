//! Listing every session by `SCAN` (`all`, `length`, `clear`): one server only, since a
//! cluster would need a scan of every node.

use std::time::SystemTime;

use ::redis::aio::ConnectionLike;

use super::RedisStore;
use crate::record::Record;
use crate::store::StoreError;

impl<C> RedisStore<C>
where
    C: ConnectionLike + Clone + Send + Sync + 'static,
{
    /// Every live session: [`Listing::all`](crate::store::Listing::all).
    pub(super) async fn scan_all(&self) -> Result<Vec<(String, Record)>, StoreError> {
        let now = SystemTime::now();
        let mut sessions = Vec::new();
        for key in self.keys("all", &self.prefix).await? {
            let loaded = self.load_key(&key).await?;
            let id = String::from_utf8_lossy(&key[self.prefix.len()..]).into_owned();
            if let Some(record) = loaded.filter(|record| !record.is_expired(now)) {
                sessions.push((id, record));
            }
        }
        Ok(sessions)
    }

    /// Deletes every session and owner index: [`Listing::clear`](crate::store::Listing::clear).
    pub(super) async fn delete_all(&self) -> Result<(), StoreError> {
        // Emptied before (loads in flight keep nothing) and after, even on an error (nor do loads
        // that ran between).
        let _emptied = self.cache.emptied();
        self.unlink(&self.keys("clear", &self.prefix).await?)
            .await?;
        if let Some(owner_prefix) = &self.owner_prefix {
            self.unlink(&self.keys("clear", owner_prefix).await?)
                .await?;
        }
        Ok(())
    }

    /// How many sessions there are: [`Listing::length`](crate::store::Listing::length).
    pub(super) async fn count(&self) -> Result<usize, StoreError> {
        Ok(self.keys("length", &self.prefix).await?.len())
    }

    /// Every key that starts with `prefix`, by `SCAN`.
    async fn keys(
        &self,
        operation: &'static str,
        prefix: &str,
    ) -> Result<Vec<Vec<u8>>, StoreError> {
        if !self.single_node {
            return Err(StoreError::unsupported(operation));
        }
        let pattern = [glob_escape(prefix).as_bytes(), b"*"].concat();
        let mut connection = self.connection.clone();
        let mut cursor = 0u64;
        let mut keys = Vec::new();
        loop {
            let (next, batch): (u64, Vec<Vec<u8>>) = ::redis::cmd("SCAN")
                .cursor_arg(cursor)
                .arg("MATCH")
                .arg(&pattern)
                .arg("COUNT")
                .arg(1000)
                .query_async(&mut connection)
                .await
                .map_err(|error| self.failed(error))?;
            keys.extend(batch);
            if next == 0 {
                return Ok(keys);
            }
            cursor = next;
        }
    }

    async fn unlink(&self, keys: &[Vec<u8>]) -> Result<(), StoreError> {
        let mut connection = self.connection.clone();
        for batch in keys.chunks(500) {
            ::redis::cmd("UNLINK")
                .arg(batch)
                .query_async::<()>(&mut connection)
                .await
                .map_err(|error| self.failed(error))?;
        }
        Ok(())
    }
}

/// Escapes glob characters so a prefix matches only itself in `SCAN MATCH`.
fn glob_escape(prefix: &str) -> String {
    let mut escaped = String::with_capacity(prefix.len());
    for c in prefix.chars() {
        if matches!(c, '*' | '?' | '[' | ']' | '\\') {
            escaped.push('\\');
        }
        escaped.push(c);
    }
    escaped
}
