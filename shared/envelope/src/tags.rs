//! Headers as KVS fragment metadata: MKV `SimpleTag` name/value string pairs.
//!
//! KVS limits (PIC `putKinesisVideoFragmentMetadata`, reference README §Fragment metadata):
//! at most 25 tags per fragment, names ≤ 128 and values ≤ 256 characters, strings only, no
//! name starting with `AWS`. A header's bytes are base64 (RFC 4648 §4, with padding) cut into
//! 192-byte chunks (256 characters each), tag `i` named `kvs-e2ee.v1.<seq>.<i>`. A header may
//! use at most [`MAX_TAGS_PER_HEADER`] tags, so the tag set before a cluster — header N
//! (repeat) and header N+1 (look-ahead) — never exceeds 24 tags, leaving one for others.

use base64::Engine;
use base64::engine::general_purpose::STANDARD;

/// Prefix of every tag name this envelope writes; other tags are ignored.
pub const TAG_PREFIX: &str = "kvs-e2ee.";
/// The version component of format-v1 tag names.
pub const VERSION_COMPONENT: &str = "v1";
/// KVS: most tags in one fragment (PIC `MAX_FRAGMENT_METADATA_COUNT`, error 4009 above it).
pub const MAX_TAGS_PER_FRAGMENT: usize = 25;
/// KVS: longest tag name.
pub const MAX_NAME_LEN: usize = 128;
/// KVS: longest tag value.
pub const MAX_VALUE_LEN: usize = 256;
/// Header bytes per tag: 256 base64 characters carry 192 bytes.
pub const CHUNK_BYTES: usize = MAX_VALUE_LEN / 4 * 3;
/// Most tags one header may use: two headers travel before each cluster (≤ 24 of 25 tags).
pub const MAX_TAGS_PER_HEADER: usize = 12;
/// Largest encoded header: 12 × 192 = 2304 bytes.
pub const MAX_HEADER_BYTES: usize = MAX_TAGS_PER_HEADER * CHUNK_BYTES;

/// A header's bytes reassembled from its tags (not yet parsed or authenticated).
#[derive(Clone, PartialEq, Eq, Debug)]
pub struct HeaderBlob {
    /// The sequence number in the tag names (checked against the header later).
    pub seq: u64,
    /// The header bytes.
    pub bytes: Vec<u8>,
}

/// Why e2ee tags could not be read or written.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum TagError {
    /// A `kvs-e2ee.` tag of a format version this code does not know.
    #[error("tag {name:?} has unknown envelope version {version:?}")]
    UnknownVersion {
        /// Tag name.
        name: String,
        /// Version component found.
        version: String,
    },
    /// A `kvs-e2ee.v1.` tag whose name or value breaks the format.
    #[error("malformed envelope tag {name:?}: {why}")]
    Malformed {
        /// Tag name (truncated to the KVS limit).
        name: String,
        /// What is wrong.
        why: &'static str,
    },
    /// A header's chunks are not numbered 0..n without gaps.
    #[error("header {seq}: tag chunk {index} missing")]
    MissingChunk {
        /// Sequence number in the names.
        seq: u64,
        /// First missing chunk index.
        index: usize,
    },
    /// More envelope tags than KVS accepts per fragment.
    #[error("{count} envelope tags in one Tags element, KVS accepts at most {max}")]
    TooMany {
        /// Count found.
        count: usize,
        /// The KVS limit.
        max: usize,
    },
    /// A header too large for its tag budget.
    #[error("header of {len} bytes needs more than {max_tags} tags ({max_bytes} bytes)")]
    HeaderTooLarge {
        /// Encoded header length.
        len: usize,
        /// Tag budget of one header.
        max_tags: usize,
        /// Byte budget of one header.
        max_bytes: usize,
    },
}

/// Cuts a header into tags named `kvs-e2ee.v1.<seq>.<i>`.
pub fn encode_header(seq: u64, bytes: &[u8]) -> Result<Vec<(String, String)>, TagError> {
    if bytes.is_empty() || bytes.len() > MAX_HEADER_BYTES {
        return Err(TagError::HeaderTooLarge {
            len: bytes.len(),
            max_tags: MAX_TAGS_PER_HEADER,
            max_bytes: MAX_HEADER_BYTES,
        });
    }
    Ok(bytes
        .chunks(CHUNK_BYTES)
        .enumerate()
        .map(|(i, chunk)| {
            (
                format!("{TAG_PREFIX}{VERSION_COMPONENT}.{seq}.{i}"),
                STANDARD.encode(chunk),
            )
        })
        .collect())
}

fn malformed(name: &str, why: &'static str) -> TagError {
    TagError::Malformed {
        name: name.chars().take(MAX_NAME_LEN).collect(),
        why,
    }
}

/// Parses `v1.<seq>.<i>` (after the prefix) into (seq, i), insisting on the canonical form.
fn parse_name(name: &str, rest: &str) -> Result<(u64, usize), TagError> {
    let mut parts = rest.split('.');
    let version = parts.next().unwrap_or_default();
    if version != VERSION_COMPONENT {
        return Err(TagError::UnknownVersion {
            name: name.chars().take(MAX_NAME_LEN).collect(),
            version: version.chars().take(16).collect(),
        });
    }
    let (Some(seq), Some(index), None) = (parts.next(), parts.next(), parts.next()) else {
        return Err(malformed(name, "expected kvs-e2ee.v1.<seq>.<index>"));
    };
    let seq: u64 = seq
        .parse()
        .map_err(|_| malformed(name, "sequence number is not a decimal u64"))?;
    let index: usize = index
        .parse()
        .map_err(|_| malformed(name, "chunk index is not a decimal number"))?;
    if index >= MAX_TAGS_PER_HEADER {
        return Err(malformed(
            name,
            "chunk index over the per-header tag budget",
        ));
    }
    if format!("{TAG_PREFIX}{VERSION_COMPONENT}.{seq}.{index}") != name {
        return Err(malformed(name, "not in canonical form"));
    }
    Ok((seq, index))
}

struct Group {
    seq: u64,
    chunks: [Option<Vec<u8>>; MAX_TAGS_PER_HEADER],
    error: Option<TagError>,
}

/// Finds the envelope headers in one Tags element (in order of first appearance).
///
/// Tags not starting with [`TAG_PREFIX`] (e.g. `AWS_KINESISVIDEO_*`, other producers'
/// metadata) are ignored. Each header is returned separately so one bad header does not hide
/// a good one; a problem with the element as a whole is the outer error.
pub fn decode_tags(
    tags: &[(String, String)],
) -> Result<Vec<Result<HeaderBlob, TagError>>, TagError> {
    let ours: Vec<&(String, String)> = tags
        .iter()
        .filter(|(n, _)| n.starts_with(TAG_PREFIX))
        .collect();
    if ours.len() > MAX_TAGS_PER_FRAGMENT {
        return Err(TagError::TooMany {
            count: ours.len(),
            max: MAX_TAGS_PER_FRAGMENT,
        });
    }
    let mut groups: Vec<Group> = Vec::new();
    let mut loose: Vec<TagError> = Vec::new();
    for (name, value) in ours {
        let rest = &name[TAG_PREFIX.len()..];
        let (seq, index) = match parse_name(name, rest) {
            Ok(v) => v,
            Err(e) => {
                loose.push(e);
                continue;
            }
        };
        let gi = match groups.iter().position(|g| g.seq == seq) {
            Some(i) => i,
            None => {
                groups.push(Group {
                    seq,
                    chunks: Default::default(),
                    error: None,
                });
                groups.len() - 1
            }
        };
        let g = &mut groups[gi];
        if g.error.is_some() {
            continue;
        }
        let decoded = if value.len() > MAX_VALUE_LEN {
            Err(malformed(name, "value longer than 256 characters"))
        } else {
            STANDARD
                .decode(value)
                .map_err(|_| malformed(name, "value is not base64"))
        };
        match decoded {
            Ok(_) if g.chunks[index].is_some() => {
                g.error = Some(malformed(name, "chunk appears twice"));
            }
            Ok(bytes) => g.chunks[index] = Some(bytes),
            Err(e) => g.error = Some(e),
        }
    }
    let mut out: Vec<Result<HeaderBlob, TagError>> = loose.into_iter().map(Err).collect();
    for g in groups {
        out.push(assemble(g));
    }
    Ok(out)
}

fn assemble(g: Group) -> Result<HeaderBlob, TagError> {
    if let Some(e) = g.error {
        return Err(e);
    }
    let n = g
        .chunks
        .iter()
        .rposition(Option::is_some)
        .map_or(0, |i| i + 1);
    let mut bytes = Vec::with_capacity(n * CHUNK_BYTES);
    for (index, chunk) in g.chunks[..n].iter().enumerate() {
        let chunk = chunk
            .as_ref()
            .ok_or(TagError::MissingChunk { seq: g.seq, index })?;
        // Every chunk but the last is full, so the split is canonical and unambiguous.
        if index + 1 < n && chunk.len() != CHUNK_BYTES {
            return Err(TagError::Malformed {
                name: format!("{TAG_PREFIX}{VERSION_COMPONENT}.{}.{index}", g.seq),
                why: "a chunk other than the last is not full",
            });
        }
        bytes.extend_from_slice(chunk);
    }
    Ok(HeaderBlob { seq: g.seq, bytes })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn header_bytes_round_trip_through_tags() {
        let bytes: Vec<u8> = (0..500u32).map(|i| i as u8).collect();
        let tags = encode_header(7, &bytes).expect("fits");
        assert_eq!(tags.len(), 3);
        for (n, v) in &tags {
            assert!(n.len() <= MAX_NAME_LEN && v.len() <= MAX_VALUE_LEN);
            assert!(!n.starts_with("AWS"));
        }
        let mut all = vec![(
            "AWS_KINESISVIDEO_FRAGMENT_NUMBER".to_owned(),
            "9".to_owned(),
        )];
        all.extend(tags);
        let blobs = decode_tags(&all).expect("element ok");
        assert_eq!(blobs.len(), 1);
        let blob = blobs.into_iter().next().expect("one").expect("valid");
        assert_eq!(blob, HeaderBlob { seq: 7, bytes });
    }

    #[test]
    fn oversized_header_is_refused() {
        assert!(matches!(
            encode_header(0, &vec![0; MAX_HEADER_BYTES + 1]),
            Err(TagError::HeaderTooLarge { .. })
        ));
        assert_eq!(
            encode_header(0, &vec![0; MAX_HEADER_BYTES])
                .expect("fits")
                .len(),
            MAX_TAGS_PER_HEADER
        );
    }

    #[test]
    fn unknown_version_and_missing_chunk_are_reported() {
        let v2 = vec![("kvs-e2ee.v2.0.0".to_owned(), "AAAA".to_owned())];
        let r = decode_tags(&v2).expect("element ok");
        assert!(matches!(r[0], Err(TagError::UnknownVersion { .. })));
        let mut tags = encode_header(1, &[0u8; 400]).expect("fits");
        tags.remove(1);
        let r = decode_tags(&tags).expect("element ok");
        assert!(matches!(
            r[0],
            Err(TagError::MissingChunk { seq: 1, index: 1 })
        ));
    }

    #[test]
    fn non_canonical_names_are_malformed() {
        for name in [
            "kvs-e2ee.v1.01.0",
            "kvs-e2ee.v1.1",
            "kvs-e2ee.v1.1.0.0",
            "kvs-e2ee.v1.1.12",
        ] {
            let r = decode_tags(&[(name.to_owned(), "AAAA".to_owned())]).expect("element ok");
            assert!(matches!(r[0], Err(TagError::Malformed { .. })), "{name}");
        }
    }
}
