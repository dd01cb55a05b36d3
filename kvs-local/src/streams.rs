//! The stream registry: every stream's metadata, persisted as
//! `DATA_DIR/streams/<name>@<creation-ms>/stream.json` so streams survive restarts.
//!
//! The folder is the stream's home for the data plane too ([`StreamRecord::dir`]): fragment
//! storage goes beside `stream.json`. The creation time in the folder name keeps a deleted
//! and re-created stream (same name, new ARN) from ever seeing the old one's fragments, and
//! keeps names like `.` or `..` (valid KVS names) from being path components on their own.
//!
//! Limits and formats: KVS API reference (`CreateStream`, `StreamInfo`, `TagStream`,
//! `UpdateDataRetention`).

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::RwLock;

use rand::RngExt as _;
use serde::{Deserialize, Serialize};
use time::OffsetDateTime;

use crate::error::{ApiError, Error};
use crate::fsutil;

/// Most tags a stream may carry (`TagStream`: "A Kinesis video stream can support up to 50
/// tags").
pub const MAX_TAGS: usize = 50;

/// Longest data retention (`DataRetentionInHours` ≤ 87600, ten years).
pub const MAX_RETENTION_HOURS: u32 = 87_600;

/// Status of a stream (`StreamInfo.Status`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum StreamStatus {
    /// Being created (kvs-local creates synchronously, so it is never observed).
    Creating,
    /// Usable.
    Active,
    /// Being updated.
    Updating,
    /// Being deleted.
    Deleting,
}

impl StreamStatus {
    /// The wire name (`ACTIVE`, …).
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Creating => "CREATING",
            Self::Active => "ACTIVE",
            Self::Updating => "UPDATING",
            Self::Deleting => "DELETING",
        }
    }
}

/// A stream's metadata, as persisted in `stream.json`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct StreamRecord {
    /// Stream name.
    pub name: String,
    /// Stream ARN: `arn:aws:kinesisvideo:REGION:ACCOUNT:stream/NAME/CREATION_MS`.
    pub arn: String,
    /// Device name given at creation.
    pub device_name: Option<String>,
    /// Media type given at creation (e.g. `video/h264`).
    pub media_type: Option<String>,
    /// KMS key id (the AWS-managed `alias/aws/kinesisvideo` unless given).
    pub kms_key_id: String,
    /// Version, changed by every update (`CurrentVersion` checks compare it).
    pub version: String,
    /// Status.
    pub status: StreamStatus,
    /// Creation time in milliseconds since the epoch.
    pub creation_time_ms: i64,
    /// Data retention in hours (0: no persistence).
    pub data_retention_hours: u32,
    /// Tags.
    pub tags: BTreeMap<String, String>,
    /// Folder name under `DATA_DIR/streams`.
    pub folder: String,
    #[serde(skip)]
    root: PathBuf,
}

impl StreamRecord {
    /// The stream's folder (data-plane storage goes here).
    pub fn dir(&self) -> PathBuf {
        self.root.join(&self.folder)
    }

    /// Creation time as a date.
    pub fn creation_time(&self) -> OffsetDateTime {
        OffsetDateTime::from_unix_timestamp_nanos(i128::from(self.creation_time_ms) * 1_000_000)
            .unwrap_or(OffsetDateTime::UNIX_EPOCH)
    }

    fn save(&self) -> Result<(), ApiError> {
        let json = serde_json::to_vec_pretty(self).expect("stream records serialize infallibly");
        fsutil::write_atomic(&self.dir().join(METADATA_FILE), &json).map_err(internal)
    }
}

/// What `CreateStream` asks for (already validated).
#[derive(Debug, Clone, Default)]
pub struct NewStream {
    /// Stream name.
    pub name: String,
    /// Device name.
    pub device_name: Option<String>,
    /// Media type.
    pub media_type: Option<String>,
    /// KMS key id.
    pub kms_key_id: Option<String>,
    /// Retention in hours.
    pub data_retention_hours: u32,
    /// Tags.
    pub tags: BTreeMap<String, String>,
}

const METADATA_FILE: &str = "stream.json";

/// All streams of a data dir.
#[derive(Debug)]
pub struct StreamRegistry {
    root: PathBuf,
    region: String,
    account_id: String,
    streams: RwLock<BTreeMap<String, StreamRecord>>,
}

impl StreamRegistry {
    /// Opens (creating if needed) `DATA_DIR/streams` and loads every stream.
    pub fn open(data_dir: &Path, region: &str, account_id: &str) -> Result<Self, Error> {
        let root = data_dir.join("streams");
        fsutil::create_dir_private(&root)?;
        let mut streams = BTreeMap::new();
        let entries = std::fs::read_dir(&root).map_err(|e| Error::io("list", &root, e))?;
        for entry in entries {
            let entry = entry.map_err(|e| Error::io("list", &root, e))?;
            let meta = entry.path().join(METADATA_FILE);
            let Some(text) = fsutil::read_optional(&meta)? else {
                continue; // a folder without metadata (e.g. half-deleted): not a stream
            };
            let mut rec: StreamRecord = serde_json::from_str(&text)
                .map_err(|e| Error::json(&meta, "stream metadata", &e))?;
            rec.root.clone_from(&root);
            if rec.status == StreamStatus::Deleting {
                // Deletion was interrupted: finish it.
                let _ = std::fs::remove_dir_all(rec.dir());
                continue;
            }
            streams.insert(rec.name.clone(), rec);
        }
        Ok(Self {
            root,
            region: region.to_owned(),
            account_id: account_id.to_owned(),
            streams: RwLock::new(streams),
        })
    }

    /// The ARN a stream of this name would have if created at `creation_ms`.
    pub fn arn_for(&self, name: &str, creation_ms: i64) -> String {
        format!(
            "arn:aws:kinesisvideo:{}:{}:stream/{name}/{creation_ms}",
            self.region, self.account_id
        )
    }

    /// The resource to authorize for a stream that may not exist: its ARN if it exists,
    /// else `arn:…:stream/NAME/*` (matches policies written for the name).
    pub fn resource_arn(&self, name: &str) -> String {
        match self.get(name) {
            Some(r) => r.arn,
            None => format!(
                "arn:aws:kinesisvideo:{}:{}:stream/{name}/*",
                self.region, self.account_id
            ),
        }
    }

    /// The stream called `name`.
    pub fn get(&self, name: &str) -> Option<StreamRecord> {
        read(&self.streams).get(name).cloned()
    }

    /// The stream with this ARN.
    pub fn get_by_arn(&self, arn: &str) -> Option<StreamRecord> {
        read(&self.streams).values().find(|r| r.arn == arn).cloned()
    }

    /// Resolves a request's `StreamName` / `StreamARN` pair (either or both; if both, they
    /// must designate the same stream).
    pub fn resolve(&self, name: Option<&str>, arn: Option<&str>) -> Result<StreamRecord, ApiError> {
        let rec = match (name, arn) {
            (Some(n), None) => self.get(n),
            (None, Some(a)) => self.get_by_arn(a),
            (Some(n), Some(a)) => self.get(n).filter(|r| r.arn == a),
            (None, None) => {
                return Err(ApiError::invalid_argument(
                    "Either StreamName or StreamARN must be specified.",
                ));
            }
        };
        rec.filter(|r| r.status != StreamStatus::Deleting)
            .ok_or_else(|| {
                ApiError::resource_not_found("The requested stream is not found or not active.")
            })
    }

    /// Creates a stream. `ResourceInUseException` if the name is taken.
    pub fn create(&self, new: NewStream) -> Result<StreamRecord, ApiError> {
        let mut streams = write(&self.streams);
        if streams.contains_key(&new.name) {
            return Err(ApiError::resource_in_use(format!(
                "The stream {} already exists.",
                new.name
            )));
        }
        let now = OffsetDateTime::now_utc();
        let creation_ms = i64::try_from(now.unix_timestamp_nanos() / 1_000_000)
            .map_err(|_| ApiError::internal_failure("system clock out of range"))?;
        let folder = format!("{}@{creation_ms}", new.name);
        let rec = StreamRecord {
            arn: self.arn_for(&new.name, creation_ms),
            kms_key_id: new.kms_key_id.unwrap_or_else(|| {
                format!(
                    "arn:aws:kms:{}:{}:alias/aws/kinesisvideo",
                    self.region, self.account_id
                )
            }),
            name: new.name,
            device_name: new.device_name,
            media_type: new.media_type,
            version: new_version(),
            status: StreamStatus::Active,
            creation_time_ms: creation_ms,
            data_retention_hours: new.data_retention_hours,
            tags: new.tags,
            folder,
            root: self.root.clone(),
        };
        fsutil::create_dir_private(&rec.dir()).map_err(internal)?;
        rec.save()?;
        streams.insert(rec.name.clone(), rec.clone());
        Ok(rec)
    }

    /// Lists streams in name order, starting after `start_after`, at most `max`, keeping
    /// those whose name begins with `prefix`. Returns the page and whether more follow.
    pub fn list(
        &self,
        prefix: Option<&str>,
        start_after: Option<&str>,
        max: usize,
    ) -> (Vec<StreamRecord>, bool) {
        let streams = read(&self.streams);
        let mut it = streams
            .values()
            .filter(|r| r.status != StreamStatus::Deleting)
            .filter(|r| start_after.is_none_or(|s| r.name.as_str() > s))
            .filter(|r| prefix.is_none_or(|p| r.name.starts_with(p)));
        let page: Vec<StreamRecord> = it.by_ref().take(max).cloned().collect();
        let more = it.next().is_some();
        (page, more)
    }

    /// Deletes the stream with `arn`, checking `current_version` if given.
    pub fn delete(&self, arn: &str, current_version: Option<&str>) -> Result<(), ApiError> {
        let mut streams = write(&self.streams);
        let Some(name) = streams
            .values()
            .find(|r| r.arn == arn)
            .map(|r| r.name.clone())
        else {
            return Err(ApiError::resource_not_found(
                "The requested stream is not found or not active.",
            ));
        };
        let rec = streams
            .get_mut(&name)
            .expect("name was just found in the map");
        check_version(rec, current_version)?;
        // Mark first so a crash mid-removal finishes the deletion on the next start.
        rec.status = StreamStatus::Deleting;
        rec.save()?;
        let dir = rec.dir();
        streams.remove(&name);
        drop(streams);
        std::fs::remove_dir_all(&dir)
            .map_err(|e| ApiError::internal_failure(format!("removing {}: {e}", dir.display())))
    }

    /// Applies `f` to the stream resolved from `name`/`arn`, bumps its version and saves it.
    pub fn update(
        &self,
        name: Option<&str>,
        arn: Option<&str>,
        f: impl FnOnce(&mut StreamRecord) -> Result<(), ApiError>,
    ) -> Result<StreamRecord, ApiError> {
        let target = self.resolve(name, arn)?;
        let mut streams = write(&self.streams);
        let rec = streams.get_mut(&target.name).ok_or_else(|| {
            ApiError::resource_not_found("The requested stream is not found or not active.")
        })?;
        let mut updated = rec.clone();
        f(&mut updated)?;
        updated.version = new_version();
        updated.save()?;
        *rec = updated.clone();
        Ok(updated)
    }

    /// Checks `current_version` against the stream's version (`VersionMismatchException`).
    pub fn check_version(
        rec: &StreamRecord,
        current_version: Option<&str>,
    ) -> Result<(), ApiError> {
        check_version(rec, current_version)
    }
}

fn check_version(rec: &StreamRecord, current_version: Option<&str>) -> Result<(), ApiError> {
    match current_version {
        Some(v) if v != rec.version => Err(ApiError::version_mismatch(format!(
            "The stream version {v} does not match the current version {} of stream {}.",
            rec.version, rec.name
        ))),
        _ => Ok(()),
    }
}

/// A new version string: 20 alphanumerics (`Version` is `[a-zA-Z0-9]+`, 1–64 chars; real
/// values look like this, the length is a guess).
fn new_version() -> String {
    let mut rng = rand::rng();
    (0..20)
        .map(|_| char::from(rng.sample(rand::distr::Alphanumeric)))
        .collect()
}

fn internal(e: impl std::fmt::Display) -> ApiError {
    ApiError::internal_failure(format!("storage error: {e}"))
}

fn read<T>(l: &RwLock<T>) -> std::sync::RwLockReadGuard<'_, T> {
    l.read().unwrap_or_else(std::sync::PoisonError::into_inner)
}

fn write<T>(l: &RwLock<T>) -> std::sync::RwLockWriteGuard<'_, T> {
    l.write().unwrap_or_else(std::sync::PoisonError::into_inner)
}

pub use kvs_e2ee_aws::is_valid_stream_name;

#[cfg(test)]
mod tests {
    use super::*;

    fn new(name: &str) -> NewStream {
        NewStream {
            name: name.to_owned(),
            data_retention_hours: 24,
            ..NewStream::default()
        }
    }

    #[test]
    fn streams_survive_reopen_and_deleted_ones_do_not() {
        let dir = tempfile::tempdir().expect("tempdir");
        let reg = StreamRegistry::open(dir.path(), "us-east-1", "123456789012").expect("open");
        let a = reg.create(new("cam1")).expect("create");
        let b = reg.create(new("..")).expect("dot-dot is a valid name");
        assert!(
            a.arn
                .starts_with("arn:aws:kinesisvideo:us-east-1:123456789012:stream/cam1/")
        );
        assert!(b.dir().starts_with(dir.path().join("streams")));
        assert!(reg.create(new("cam1")).is_err());
        reg.delete(&b.arn, Some(&b.version)).expect("delete");
        let reg = StreamRegistry::open(dir.path(), "us-east-1", "123456789012").expect("reopen");
        assert_eq!(reg.get("cam1"), Some(a));
        assert!(reg.get("..").is_none());
    }

    #[test]
    fn version_mismatch_and_updates_bump_version() {
        let dir = tempfile::tempdir().expect("tempdir");
        let reg = StreamRegistry::open(dir.path(), "us-east-1", "123456789012").expect("open");
        let a = reg.create(new("cam1")).expect("create");
        let err = reg.delete(&a.arn, Some("nope")).expect_err("mismatch");
        assert_eq!(err.code(), "VersionMismatchException");
        let u = reg
            .update(Some("cam1"), None, |r| {
                r.data_retention_hours += 1;
                Ok(())
            })
            .expect("update");
        assert_ne!(u.version, a.version);
        assert_eq!(u.data_retention_hours, 25);
    }

    #[test]
    fn listing_pages_by_name_with_prefix() {
        let dir = tempfile::tempdir().expect("tempdir");
        let reg = StreamRegistry::open(dir.path(), "us-east-1", "123456789012").expect("open");
        for n in ["b", "a", "cam2", "cam1"] {
            reg.create(new(n)).expect("create");
        }
        let (page, more) = reg.list(None, None, 2);
        assert_eq!(
            page.iter().map(|r| r.name.as_str()).collect::<Vec<_>>(),
            ["a", "b"]
        );
        assert!(more);
        let (page, more) = reg.list(None, Some("b"), 10);
        assert_eq!(page.len(), 2);
        assert!(!more);
        let (page, _) = reg.list(Some("cam"), None, 10);
        assert_eq!(page.len(), 2);
    }

    #[test]
    fn stream_name_rule() {
        assert!(is_valid_stream_name("cam-1_a.b"));
        assert!(!is_valid_stream_name(""));
        assert!(!is_valid_stream_name("a b"));
        assert!(!is_valid_stream_name("a/b"));
        assert!(!is_valid_stream_name(&"a".repeat(257)));
    }
}
