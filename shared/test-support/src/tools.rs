//! External tools (ffprobe, mkvinfo, gst-launch-1.0, …): a test that needs one runs it when
//! it is installed, is skipped with a note when it is not — and fails when `CI` is set, so
//! CI never passes by skipping.

use std::process::Command;

/// Whether `tool` runs (`tool -version` for ffmpeg's tools, `tool --version` otherwise).
/// Panics when it does not and `CI` is set.
pub fn have_tool(tool: &str) -> bool {
    let flag = if tool.starts_with("ff") {
        "-version"
    } else {
        "--version"
    };
    have_tool_with(tool, flag)
}

/// Whether `tool arg` runs and exits 0. Panics when it does not and `CI` is set.
pub fn have_tool_with(tool: &str, arg: &str) -> bool {
    let ok = Command::new(tool)
        .arg(arg)
        .output()
        .is_ok_and(|o| o.status.success());
    available(ok, &format!("{tool} (`{tool} {arg}` must run)"))
}

/// The policy itself, for any probe: `true` when `ok`; otherwise a note and `false` —
/// or a panic naming `what` when `CI` is set.
pub fn available(ok: bool, what: &str) -> bool {
    if !ok {
        assert!(
            std::env::var_os("CI").is_none(),
            "CI is set but {what} is not available"
        );
        eprintln!("note: skipping: {what} is not available");
    }
    ok
}
