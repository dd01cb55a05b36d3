//! Re-reads the recipients file when it changes (polled modification time
//! and size) or on SIGHUP, and hands the new viewer list to the engine, which
//! applies it at the next fragment. A file that no longer parses, or lists
//! nobody, is reported and ignored: the camera keeps encrypting for the last
//! good list rather than stopping or encrypting for no one.

use std::path::{Path, PathBuf};
use std::time::{Duration, SystemTime};

use kvs_e2ee_keys::{KeyKind, KeyList, PublicKey};
use tokio::sync::watch;

/// How often the file's modification time is checked.
pub const DEFAULT_POLL: Duration = Duration::from_secs(2);

fn stamp(path: &Path) -> Option<(SystemTime, u64)> {
    let meta = std::fs::metadata(path).ok()?;
    Some((meta.modified().ok()?, meta.len()))
}

fn load(path: &Path) -> Option<Vec<PublicKey>> {
    match KeyList::load(path, KeyKind::Viewer) {
        Ok(list) if !list.entries().is_empty() => {
            Some(list.entries().iter().map(|e| e.key).collect())
        }
        Ok(_) => {
            tracing::error!(file = %path.display(), "recipients file lists no viewer; keeping the previous recipients");
            None
        }
        Err(e) => {
            tracing::error!("re-reading recipients: {e}; keeping the previous recipients");
            None
        }
    }
}

/// Watches `path` (every `poll`, and on SIGHUP on Unix); the receiver sees
/// each new valid list. The task ends when the receiver is dropped.
pub fn watch_recipients(path: PathBuf, poll: Duration) -> watch::Receiver<Vec<PublicKey>> {
    let (tx, rx) = watch::channel(Vec::new());
    let mut last = stamp(&path);
    tokio::spawn(async move {
        #[cfg(unix)]
        let mut hup = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::hangup()).ok();
        loop {
            #[cfg(unix)]
            let forced = match hup.as_mut() {
                Some(h) => tokio::select! {
                    _ = h.recv() => true,
                    () = tokio::time::sleep(poll) => false,
                },
                None => {
                    tokio::time::sleep(poll).await;
                    false
                }
            };
            #[cfg(not(unix))]
            let forced = {
                tokio::time::sleep(poll).await;
                false
            };
            if tx.is_closed() {
                return;
            }
            let now = stamp(&path);
            if !forced && now == last {
                continue;
            }
            last = now;
            if let Some(keys) = load(&path) {
                tracing::info!(
                    file = %path.display(),
                    recipients = keys.len(),
                    "recipients changed: applying them from the next fragment"
                );
                if tx.send(keys).is_err() {
                    return;
                }
            }
        }
    });
    rx
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use super::*;
    use kvs_e2ee_keys::Identity;

    fn viewer_line() -> (PublicKey, String) {
        let mut rng = rand::rand_core::UnwrapErr(rand::rngs::SysRng);
        let v = Identity::generate(KeyKind::Viewer, &mut rng);
        (v.public_key(), format!("{}\n", v.public_text()))
    }

    #[tokio::test]
    async fn changed_recipients_file_is_reloaded_and_a_broken_one_ignored() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("recipients.txt");
        let (a, line_a) = viewer_line();
        std::fs::write(&path, &line_a).unwrap();
        let mut rx = watch_recipients(path.clone(), Duration::from_millis(20));
        let (b, line_b) = viewer_line();
        std::fs::write(&path, format!("{line_a}{line_b}")).unwrap();
        tokio::time::timeout(Duration::from_secs(5), rx.changed())
            .await
            .unwrap()
            .unwrap();
        assert_eq!(*rx.borrow_and_update(), vec![a, b]);
        // A broken file is not applied.
        std::fs::write(&path, "garbage\n").unwrap();
        let r = tokio::time::timeout(Duration::from_millis(300), rx.changed()).await;
        assert!(r.is_err(), "a broken list must not be applied");
    }
}
