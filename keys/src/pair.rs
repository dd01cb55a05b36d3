//! A camera and a viewer that trust each other, as files: the set-up every
//! end-to-end test, demo or benchmark starts from.

use std::path::{Path, PathBuf};

use rand_core::CryptoRng;

use crate::{Identity, KeyKind, Result};

/// The files [`PairFiles::generate`] writes into a folder.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PairFiles {
    /// `camera.key`: the camera's identity.
    pub camera: PathBuf,
    /// `viewer.key`: the viewer's identity.
    pub viewer: PathBuf,
    /// `recipients.txt`: the camera's recipients file, listing the viewer.
    pub recipients: PathBuf,
    /// `cameras.txt`: the viewer's trusted-cameras file, listing the camera.
    pub trusted_cameras: PathBuf,
}

impl PairFiles {
    /// Generates a camera and a viewer identity and writes them with the
    /// recipients and trusted-cameras files that make them a pair into
    /// `dir`, which must exist. Refuses to overwrite an identity file.
    pub fn generate<R: CryptoRng + ?Sized>(dir: &Path, rng: &mut R) -> Result<Self> {
        let files = Self {
            camera: dir.join("camera.key"),
            viewer: dir.join("viewer.key"),
            recipients: dir.join("recipients.txt"),
            trusted_cameras: dir.join("cameras.txt"),
        };
        let camera = Identity::generate(KeyKind::Camera, rng);
        camera.save_new(&files.camera)?;
        let viewer = Identity::generate(KeyKind::Viewer, rng);
        viewer.save_new(&files.viewer)?;
        let write = |path: &Path, line: String| {
            std::fs::write(path, line).map_err(|error| crate::KeyError::Io {
                path: path.to_owned(),
                error,
            })
        };
        write(
            &files.recipients,
            format!("{} viewer\n", viewer.public_text()),
        )?;
        write(
            &files.trusted_cameras,
            format!("{} camera\n", camera.public_text()),
        )?;
        Ok(files)
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;
    use crate::KeyList;

    #[test]
    fn the_pair_trusts_each_other() {
        let dir = tempfile::tempdir().unwrap();
        let mut rng = rand::rand_core::UnwrapErr(rand::rngs::SysRng);
        let files = PairFiles::generate(dir.path(), &mut rng).unwrap();
        let camera = Identity::load_kind(&files.camera, KeyKind::Camera).unwrap();
        let viewer = Identity::load_kind(&files.viewer, KeyKind::Viewer).unwrap();
        let recipients = KeyList::load(&files.recipients, KeyKind::Viewer).unwrap();
        let cameras = KeyList::load(&files.trusted_cameras, KeyKind::Camera).unwrap();
        assert_eq!(recipients.entries()[0].key, viewer.public_key());
        assert_eq!(cameras.entries()[0].key, camera.public_key());
        assert!(
            PairFiles::generate(dir.path(), &mut rng).is_err(),
            "no overwrite"
        );
    }
}
