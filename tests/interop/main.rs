//! Beside the Node ecosystem and in real browsers: the Node-compatible stores against the
//! layouts connect-redis and connect-pg-simple use, an express-session app and a Rust app
//! sharing live sessions, and the examples in headless Chromium.

// The examples each include the page layout module for themselves, and `beside_express` is
// included by both the browser and the Node interop tests.
#![allow(clippy::duplicate_mod)]

#[path = "../common/mod.rs"]
mod common;

mod browser;
mod connect_pg_store;
mod connect_redis_store;
mod node_interop;
