//! The session data the benchmarks store: a small session (three fields) and a large one (a
//! 16 KiB cart next to a small counter).

use serde::{Deserialize, Serialize};
use sessionly::SessionData;

/// One line of the cart.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Item {
    /// Article number.
    pub sku: u32,
    /// How many.
    pub quantity: u16,
    /// A short label, so the item is not only numbers.
    pub label: String,
}

/// The small session: what a typical logged-in visitor carries.
#[derive(SessionData, Debug)]
pub struct Small {
    /// The counter the read and increment routes use.
    pub views: u64,
    /// Who is logged in.
    pub user: Option<String>,
    /// A preference.
    pub theme: String,
}

/// The large session: a counter next to a 16 KiB cart.
#[derive(SessionData, Debug)]
pub struct Large {
    /// The small field the large-session route changes.
    pub views: u64,
    /// The cart, [`CART_BYTES`] when encoded with postcard.
    pub cart: Vec<Item>,
}

/// Items in [`cart`].
pub const CART_ITEMS: usize = 1024;

/// The postcard size of [`cart`]: 16 KiB of items plus the length prefix.
pub const CART_BYTES: usize = 16 * 1024 + 2;

/// The 16 KiB cart: 1024 items of 16 encoded bytes each.
pub fn cart() -> Vec<Item> {
    (0..CART_ITEMS)
        .map(|i| Item {
            // 100_000.. needs a 3-byte varint, quantities one byte, labels 1 + 11 bytes.
            sku: 100_000 + i as u32,
            quantity: 1 + (i % 5) as u16,
            label: format!("item-{i:06}"),
        })
        .collect()
}

/// The values the small session is created with.
pub fn small_user() -> Option<String> {
    Some("visitor@example.com".to_owned())
}

/// The theme the small session is created with.
pub const THEME: &str = "dark";

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_cart_is_16_kib_in_postcard() {
        let encoded = postcard::to_allocvec(&cart()).unwrap();
        assert_eq!(encoded.len(), CART_BYTES);
    }
}
