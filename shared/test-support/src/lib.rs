//! What kvs-e2ee's tests share, so no test crate keeps its own copy: the policy for
//! external tools ([`tools`]) and a viewer that opens MKV bytes through the consumer's real
//! [`Reader`](kvs_e2ee_consumer::Reader) ([`view`]). A dev-dependency only: nothing here
//! ships.
#![forbid(unsafe_code)]

pub mod tools;
pub mod view;

pub use tools::{have_tool, have_tool_with};
pub use view::{Viewed, view_mkv};
