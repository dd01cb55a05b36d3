//! Helpers shared by unit tests: test-data paths and the external-tool policy
//! (a missing tool fails under `CI`, is skipped with a note otherwise).

use std::path::PathBuf;
use std::process::Command;

/// Path of a file in `producer/tests/data/`.
pub(crate) fn data(name: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("tests/data")
        .join(name)
}

/// Whether `tool` can run; panics when it cannot and `CI` is set.
pub(crate) fn tool_available(tool: &str) -> bool {
    let ok = Command::new(tool)
        .arg("-version")
        .output()
        .map(|o| o.status.success())
        .unwrap_or(false);
    if !ok {
        assert!(
            std::env::var_os("CI").is_none(),
            "{tool} is required when CI is set but is not installed"
        );
        eprintln!("note: {tool} not installed; skipping this test");
    }
    ok
}
