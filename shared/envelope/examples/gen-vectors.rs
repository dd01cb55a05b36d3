//! Writes the envelope test vectors (`tests/vectors/*.json` at the repository root).
//!
//! `cargo run -p kvs-e2ee-envelope --example gen-vectors -- tests/vectors`
//!
//! Deterministic: every key, session id and content key comes from one seeded RNG passed to
//! the constructors, so running it again must reproduce the files byte for byte (the
//! `envelope_vectors` test checks exactly that).
#![allow(clippy::unwrap_used, clippy::expect_used)]

#[path = "../tests/common/mod.rs"]
mod common;

fn main() {
    let dir = std::env::args()
        .nth(1)
        .unwrap_or_else(|| "tests/vectors".to_owned());
    std::fs::create_dir_all(&dir).expect("create the output directory");
    for case in common::all_cases() {
        let path = std::path::Path::new(&dir).join(format!("{}.json", case.name));
        let mut json = serde_json::to_string_pretty(&case).expect("cases serialize");
        json.push('\n');
        std::fs::write(&path, json).expect("write a vector file");
        println!("{}", path.display());
    }
}
