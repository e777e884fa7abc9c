//! HTTP behaviour through the layer: an axum `Router` with the layer, driven with requests
//! that carry cookies, asserting on `Set-Cookie`, bodies and what the store holds. One module
//! per concern; the stores stand in by the memory store here (and Redis where a test says so).

// The examples each include the page layout and secret modules for themselves.
#![allow(clippy::duplicate_mod)]

#[path = "../common/mod.rs"]
mod common;

mod api;
mod composition;
mod concurrency;
mod cookie_store;
mod examples;
mod express_fidelity;
mod lifecycle;
mod options;
mod promises;
mod security;
mod tokens;
mod type_changes;
mod websocket;
