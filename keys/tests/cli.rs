//! End-to-end tests of the `kvs-e2ee-keys` binary: real processes, real files, real permissions.
#![cfg(unix)]

use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};

use kvs_e2ee_keys::{Identity, KeyKind, decode_public};

const BIN: &str = env!("CARGO_BIN_EXE_kvs-e2ee-keys");

/// Every run's output, so the final check can prove no secret ever left the file.
struct Session {
    dir: tempfile::TempDir,
    outputs: Vec<String>,
}

impl Session {
    fn new() -> Self {
        Self {
            dir: tempfile::tempdir().expect("tempdir"),
            outputs: Vec::new(),
        }
    }

    fn path(&self, name: &str) -> PathBuf {
        self.dir.path().join(name)
    }

    fn run(&mut self, args: &[&str]) -> Output {
        let out = Command::new(BIN)
            .args(args)
            .current_dir(self.dir.path())
            .stdin(Stdio::null())
            .output()
            .expect("binary runs");
        self.outputs
            .push(String::from_utf8_lossy(&out.stdout).into_owned());
        self.outputs
            .push(String::from_utf8_lossy(&out.stderr).into_owned());
        out
    }

    fn ok(&mut self, args: &[&str]) -> String {
        let out = self.run(args);
        assert!(
            out.status.success(),
            "{args:?} failed: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8(out.stdout).expect("utf-8 stdout")
    }

    fn fails(&mut self, args: &[&str]) -> String {
        let out = self.run(args);
        assert_eq!(out.status.code(), Some(1), "{args:?} should fail");
        assert!(out.stdout.is_empty(), "{args:?} printed on stdout");
        String::from_utf8(out.stderr).expect("utf-8 stderr")
    }

    /// Asserts no secret key text of `file` (either case) appeared in any output so far.
    fn assert_no_secret_leaked(&self, file: &Path) {
        let text = std::fs::read_to_string(file).expect("identity file");
        let secrets: Vec<&str> = text
            .lines()
            .filter(|l| !l.starts_with('#'))
            .filter_map(|l| l.split_whitespace().nth(4))
            .collect();
        assert!(!secrets.is_empty());
        for out in &self.outputs {
            assert!(
                !out.contains("SECRET-KEY-1"),
                "secret prefix in output: {out}"
            );
            for s in &secrets {
                let body = &s[28..];
                assert!(
                    !out.contains(body) && !out.contains(&body.to_lowercase()),
                    "secret in output"
                );
            }
        }
    }
}

fn one_public_line(stdout: &str, kind: KeyKind) -> String {
    let lines: Vec<&str> = stdout.lines().collect();
    assert_eq!(lines.len(), 1, "stdout: {stdout}");
    let (k, _) = decode_public(lines[0]).expect("a valid public key");
    assert_eq!(k, kind);
    lines[0].to_owned()
}

fn mode(path: &Path) -> u32 {
    std::fs::metadata(path)
        .expect("exists")
        .permissions()
        .mode()
        & 0o777
}

#[test]
fn generate_writes_a_0600_file_and_prints_one_public_key() {
    let mut s = Session::new();
    let out = s.ok(&["generate", "--kind", "viewer", "--out", "viewer.key"]);
    let public = one_public_line(&out, KeyKind::Viewer);
    assert!(public.starts_with("kvsviewer1"));
    let path = s.path("viewer.key");
    assert_eq!(mode(&path), 0o600);
    let id = Identity::load(&path).expect("loads");
    assert_eq!(id.public_text(), public);

    let out = s.ok(&["generate", "--kind", "camera", "-o", "camera.key"]);
    assert!(one_public_line(&out, KeyKind::Camera).starts_with("kvscamera1"));
    s.assert_no_secret_leaked(&path);
    s.assert_no_secret_leaked(&s.path("camera.key"));
}

#[test]
fn generate_refuses_to_overwrite_an_existing_file() {
    let mut s = Session::new();
    s.ok(&["generate", "--kind", "viewer", "--out", "v.key"]);
    let before = std::fs::read(s.path("v.key")).expect("read");
    let err = s.fails(&["generate", "--kind", "viewer", "--out", "v.key"]);
    assert!(err.contains("already exists"), "{err}");
    assert_eq!(std::fs::read(s.path("v.key")).expect("read"), before);
    std::fs::write(s.path("notes.txt"), "keep me").expect("write");
    s.fails(&["generate", "--kind", "camera", "--out", "notes.txt"]);
    assert_eq!(
        std::fs::read_to_string(s.path("notes.txt")).expect("read"),
        "keep me"
    );
}

#[test]
fn public_prints_the_active_key_and_all_generations_on_request() {
    let mut s = Session::new();
    let first = s.ok(&["generate", "--kind", "camera", "--out", "c.key"]);
    assert_eq!(s.ok(&["public", "c.key"]), first);
    let second = s.ok(&["rotate", "c.key"]);
    assert_eq!(s.ok(&["public", "c.key"]), second);
    let all = s.ok(&["public", "--all", "c.key"]);
    assert_eq!(
        all,
        format!("{} gen-1\n{} gen-2\n", first.trim(), second.trim())
    );
    // The --all output is itself a valid trusted-cameras file.
    let list = kvs_e2ee_keys::KeyList::parse(&all, "stdout", KeyKind::Camera).expect("valid list");
    assert_eq!(list.len(), 2);
    s.assert_no_secret_leaked(&s.path("c.key"));
}

#[test]
fn list_shows_generation_id_creation_time_and_status() {
    let mut s = Session::new();
    s.ok(&["generate", "--kind", "viewer", "--out", "v.key"]);
    s.ok(&["rotate", "v.key"]);
    let out = s.ok(&["list", "v.key"]);
    let id = Identity::load(&s.path("v.key")).expect("loads");
    let lines: Vec<Vec<&str>> = out
        .lines()
        .map(|l| l.split_whitespace().collect())
        .collect();
    assert_eq!(lines[0], vec!["GEN", "KEY", "ID", "CREATED", "STATUS"]);
    for (row, g) in lines[1..].iter().zip(id.generations()) {
        assert_eq!(
            row,
            &vec![
                g.number().to_string().as_str(),
                g.id().to_string().as_str(),
                g.created_rfc3339().as_str(),
                g.status().as_str()
            ]
        );
    }
    assert_eq!(lines.len(), 3);
    assert_eq!(lines[1][3], "old");
    assert_eq!(lines[2][3], "active");
    s.assert_no_secret_leaked(&s.path("v.key"));
}

#[test]
fn rotate_adds_a_generation_prints_the_new_key_and_warns_about_recipients() {
    let mut s = Session::new();
    let old = s.ok(&["generate", "--kind", "viewer", "--out", "v.key"]);
    let out = s.run(&["rotate", "v.key"]);
    assert!(out.status.success());
    let new = one_public_line(&String::from_utf8_lossy(&out.stdout), KeyKind::Viewer);
    assert_ne!(new, old.trim());
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("recipients file"), "{stderr}");
    let id = Identity::load(&s.path("v.key")).expect("loads");
    assert_eq!(id.generations().len(), 2);
    assert_eq!(id.public_text(), new);
    assert_eq!(
        kvs_e2ee_keys::encode_public(KeyKind::Viewer, &id.generations()[0].public_key()),
        old.trim()
    );
    assert_eq!(mode(&s.path("v.key")), 0o600);
    s.assert_no_secret_leaked(&s.path("v.key"));
}

#[test]
fn retire_with_yes_drops_an_old_generation_by_id_or_number() {
    let mut s = Session::new();
    s.ok(&["generate", "--kind", "viewer", "--out", "v.key"]);
    s.ok(&["rotate", "v.key"]);
    s.ok(&["rotate", "v.key"]);
    let before = Identity::load(&s.path("v.key")).expect("loads");
    let first_id = before.generations()[0].id().to_string();
    s.ok(&["retire", "v.key", &first_id, "--yes"]);
    s.ok(&["retire", "v.key", "2", "--yes"]);
    let after = Identity::load(&s.path("v.key")).expect("loads");
    let numbers: Vec<u32> = after.generations().iter().map(|g| g.number()).collect();
    assert_eq!(numbers, vec![3]);
    assert_eq!(after.public_text(), before.public_text());
    assert_eq!(mode(&s.path("v.key")), 0o600);
    s.assert_no_secret_leaked(&s.path("v.key"));
}

#[test]
fn retire_without_terminal_or_yes_is_refused_and_changes_nothing() {
    let mut s = Session::new();
    s.ok(&["generate", "--kind", "viewer", "--out", "v.key"]);
    s.ok(&["rotate", "v.key"]);
    let before = std::fs::read(s.path("v.key")).expect("read");
    let err = s.fails(&["retire", "v.key", "1"]);
    assert!(err.contains("--yes"), "{err}");
    assert!(err.contains("not a terminal"), "{err}");
    assert_eq!(std::fs::read(s.path("v.key")).expect("read"), before);
}

#[test]
fn retire_of_the_active_generation_is_refused_even_with_yes() {
    let mut s = Session::new();
    s.ok(&["generate", "--kind", "camera", "--out", "c.key"]);
    s.ok(&["rotate", "c.key"]);
    let before = std::fs::read(s.path("c.key")).expect("read");
    let err = s.fails(&["retire", "c.key", "2", "--yes"]);
    assert!(err.contains("is the active key"), "{err}");
    let active = Identity::load(&s.path("c.key"))
        .expect("loads")
        .active_generation()
        .id()
        .to_string();
    // Refused before asking: without --yes the answer is the same, not a prompt.
    let err = s.fails(&["retire", "c.key", &active]);
    assert!(err.contains("is the active key"), "{err}");
    assert_eq!(std::fs::read(s.path("c.key")).expect("read"), before);
}

#[test]
fn retire_of_unknown_generation_or_bad_id_is_an_error() {
    let mut s = Session::new();
    s.ok(&["generate", "--kind", "camera", "--out", "c.key"]);
    let err = s.fails(&["retire", "c.key", "7", "--yes"]);
    assert!(err.contains("no such generation"), "{err}");
    let err = s.fails(&["retire", "c.key", "0011223344556677", "--yes"]);
    assert!(err.contains("no such generation"), "{err}");
    let err = s.fails(&["retire", "c.key", "gen-x", "--yes"]);
    assert!(err.contains("neither a key id"), "{err}");
}

#[test]
fn loose_permissions_are_refused_by_every_command() {
    let mut s = Session::new();
    s.ok(&["generate", "--kind", "viewer", "--out", "v.key"]);
    s.ok(&["rotate", "v.key"]);
    let path = s.path("v.key");
    std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o644)).expect("chmod");
    for args in [
        vec!["public", "v.key"],
        vec!["list", "v.key"],
        vec!["rotate", "v.key"],
        vec!["retire", "v.key", "1", "--yes"],
    ] {
        let err = s.fails(&args);
        assert!(err.contains("0644"), "{err}");
        assert!(err.contains("chmod 600 v.key"), "{err}");
    }
    assert_eq!(
        mode(&path),
        0o644,
        "commands must not fix permissions silently"
    );
    std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o600)).expect("chmod");
    assert_eq!(Identity::load(&path).expect("loads").generations().len(), 2);
    s.assert_no_secret_leaked(&path);
}

#[test]
fn corrupted_identity_file_is_refused_with_file_and_line() {
    let mut s = Session::new();
    s.ok(&["generate", "--kind", "viewer", "--out", "v.key"]);
    let path = s.path("v.key");
    let text = std::fs::read_to_string(&path).expect("read");
    // Flip one character of the secret: the bech32 checksum must catch it.
    let line = text.lines().last().expect("a generation line");
    let last = line.chars().last().expect("non-empty");
    let flipped = format!(
        "{}{}",
        &line[..line.len() - 1],
        if last == 'Q' { 'P' } else { 'Q' }
    );
    std::fs::write(&path, text.replace(line, &flipped)).expect("write");
    let err = s.fails(&["list", "v.key"]);
    assert!(err.contains("v.key:6: secret key"), "{err}");
    assert!(
        !err.contains(&flipped[60..]),
        "error quotes the secret: {err}"
    );
}

#[test]
fn closed_stdout_is_a_clean_exit() {
    let mut s = Session::new();
    s.ok(&["generate", "--kind", "viewer", "--out", "v.key"]);
    let mut child = Command::new(BIN)
        .args(["public", "--all", "v.key"])
        .current_dir(s.dir.path())
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawns");
    drop(child.stdout.take());
    let out = child.wait_with_output().expect("waits");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(
        out.stderr.is_empty(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
}

/// Runs `retire` on a pseudo-terminal (util-linux `script`) answering `answer`.
/// `None` if `script` is missing and `CI` is unset (the test then skips with a note).
fn retire_on_terminal(s: &Session, answer: &str) -> Option<Output> {
    let found = Command::new("script")
        .arg("--version")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|st| st.success());
    if !kvs_e2ee_test_support::available(found, "util-linux `script` (the terminal prompt test)") {
        return None;
    }
    let mut child = Command::new("script")
        .args(["-qec", &format!("'{BIN}' retire v.key 1"), "/dev/null"])
        .current_dir(s.dir.path())
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("script runs");
    {
        use std::io::Write;
        let mut stdin = child.stdin.take().expect("piped");
        stdin.write_all(answer.as_bytes()).expect("write answer");
    }
    Some(child.wait_with_output().expect("waits"))
}

#[test]
fn retire_on_a_terminal_asks_and_proceeds_only_on_yes() {
    let mut s = Session::new();
    s.ok(&["generate", "--kind", "viewer", "--out", "v.key"]);
    s.ok(&["rotate", "v.key"]);
    let Some(out) = retire_on_terminal(&s, "no\n") else {
        return;
    };
    let shown = String::from_utf8_lossy(&out.stdout);
    assert!(shown.contains("Type yes to continue"), "{shown}");
    assert!(!out.status.success());
    assert_eq!(
        Identity::load(&s.path("v.key"))
            .expect("loads")
            .generations()
            .len(),
        2
    );
    let out = retire_on_terminal(&s, "yes\n").expect("script found above");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stdout)
    );
    assert_eq!(
        Identity::load(&s.path("v.key"))
            .expect("loads")
            .generations()
            .len(),
        1
    );
}

#[test]
fn check_list_validates_recipients_and_names_the_bad_line() {
    let mut s = Session::new();
    let viewer = s.ok(&["generate", "--kind", "viewer", "--out", "v.key"]);
    let camera = s.ok(&["generate", "--kind", "camera", "--out", "c.key"]);
    let good = format!("# recipients\n{} alice phone\n", viewer.trim());
    std::fs::write(s.path("recipients"), &good).expect("write");
    let out = s.ok(&["check-list", "--kind", "viewer", "recipients"]);
    let id = Identity::load(&s.path("v.key")).expect("loads");
    assert!(
        out.contains(&format!(
            "2     {}  alice phone",
            id.active_generation().id()
        )),
        "{out}"
    );
    std::fs::write(s.path("recipients"), format!("{good}\n{}\n", camera.trim())).expect("write");
    let err = s.fails(&["check-list", "--kind", "viewer", "recipients"]);
    assert!(
        err.contains("recipients:4: this is a camera public key"),
        "{err}"
    );
    // The same file is a bad trusted-cameras file from its first key on.
    let err = s.fails(&["check-list", "--kind", "camera", "recipients"]);
    assert!(
        err.contains("recipients:2: this is a viewer public key"),
        "{err}"
    );
}

#[test]
fn a_missing_file_is_named_with_its_os_error_said_once() {
    let mut s = Session::new();
    let err = s.fails(&["public", "missing.key"]);
    assert!(err.contains("missing.key"), "{err}");
    assert_eq!(
        err.matches("No such file or directory").count(),
        1,
        "the OS error is said once: {err}"
    );
}
