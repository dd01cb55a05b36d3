//! Checks the implementation against the shipped vectors in `tests/vectors/` (repo root).
//!
//! One parameterised test runs every case file through a streaming reader and requires the
//! exact released frames, chain verdicts and errors — and that no released byte is anything
//! but a plaintext the camera sealed (no plaintext before authentication). A second test
//! regenerates the vectors from their seed and requires byte equality with the files, so
//! the producer side is pinned too. Regenerate with
//! `cargo run -p kvs-e2ee-envelope --example gen-vectors -- tests/vectors`.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::path::PathBuf;

fn vector_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../tests/vectors")
}

fn load() -> Vec<(String, String)> {
    let mut files: Vec<_> = std::fs::read_dir(vector_dir())
        .expect("tests/vectors exists at the repository root")
        .map(|e| e.expect("readable dir entry").path())
        .filter(|p| p.extension().is_some_and(|e| e == "json"))
        .collect();
    files.sort();
    files
        .into_iter()
        .map(|p| {
            let name = p.file_stem().unwrap().to_string_lossy().into_owned();
            (name, std::fs::read_to_string(&p).expect("readable vector"))
        })
        .collect()
}

#[test]
fn every_vector_case_produces_its_expected_outcome() {
    let files = load();
    assert!(files.len() >= 20, "only {} vector files", files.len());
    for (name, json) in files {
        let case: common::VectorCase = serde_json::from_str(&json).expect("valid vector JSON");
        assert_eq!(case.name, name, "file name matches case name");
        let outcome = common::read(&mut case.stream(), &case.segments);
        assert_eq!(outcome, case.expect, "vector {name}: {}", case.proves);
        if !case.danger_accept_plaintext {
            for r in &outcome.released {
                assert!(
                    case.sealed_plaintexts.contains(r),
                    "vector {name}: released bytes that were never sealed"
                );
            }
        }
    }
}

#[test]
fn vectors_are_reproduced_by_the_generator() {
    let files = load();
    let cases = common::all_cases();
    assert_eq!(files.len(), cases.len(), "one file per case");
    for case in cases {
        let (_, json) = files
            .iter()
            .find(|(n, _)| *n == case.name)
            .unwrap_or_else(|| panic!("missing vector file {}.json", case.name));
        let mut fresh = serde_json::to_string_pretty(&case).unwrap();
        fresh.push('\n');
        assert!(
            *json == fresh,
            "{}.json differs from the generator's output (tags or ciphertexts changed)",
            case.name
        );
    }
}
