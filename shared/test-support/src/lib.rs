//! What kvs-e2ee's tests share, so no test crate keeps its own copy: the policy for
//! external tools ([`tools`]), a viewer that opens MKV bytes through the consumer's real
//! [`Reader`](kvs_e2ee_consumer::Reader) ([`view`]), and the test world — keys, a sealed
//! session and GetMedia's segments ([`world`]). A dev-dependency only: nothing here
//! ships.
#![forbid(unsafe_code)]

pub mod tools;
pub mod view;
pub mod world;

pub use tools::{available, have_tool, have_tool_with};
pub use view::{Viewed, view_mkv};
