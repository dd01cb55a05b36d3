//! The kvs-e2ee viewer library. The reading and verifying pipeline lands with the
//! consumer issue; until then this crate only reserves its place in the workspace.
