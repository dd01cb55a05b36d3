//! Helpers shared by unit tests: test-data paths and the external-tool policy
//! (a missing tool fails under `CI`, is skipped with a note otherwise).

use std::path::PathBuf;

/// Path of a file in `producer/tests/data/`.
pub(crate) fn data(name: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("tests/data")
        .join(name)
}

/// Whether `tool` can run (`tool -version`); panics when it cannot and `CI` is set.
pub(crate) fn tool_available(tool: &str) -> bool {
    kvs_e2ee_test_support::have_tool_with(tool, "-version")
}
