//! `Tags`: KVS fragment metadata and the service's own fragment tags, flattened to
//! `SimpleTag`s when read, written as PIC writes fragment metadata.

use bytes::{BufMut, Bytes, BytesMut};

use crate::MkvError;
use crate::ebml::{self, Children};
use crate::ids::ElementId;

/// The value of a `SimpleTag`.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum TagValue {
    /// `TagString` (also used when the tag has neither value: an empty string).
    String(String),
    /// `TagBinary`.
    Binary(Bytes),
}

/// One `SimpleTag`, flattened out of `Tags` › `Tag` › `SimpleTag` (› nested `SimpleTag`...).
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub struct SimpleTag {
    /// `TagName`.
    pub name: String,
    /// `TagString` or `TagBinary`.
    pub value: TagValue,
    /// `TagLanguage`, if given.
    pub language: Option<String>,
    /// Nesting depth: 0 for a `SimpleTag` directly in a `Tag`, 1 for one nested inside it, ...
    pub depth: usize,
}

impl SimpleTag {
    /// The value as a string, if it is a `TagString`.
    pub fn as_str(&self) -> Option<&str> {
        match &self.value {
            TagValue::String(s) => Some(s),
            TagValue::Binary(_) => None,
        }
    }
}

/// A `Tags` element, its `SimpleTag`s flattened in document order.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub struct Tags {
    /// All `SimpleTag`s of all `Tag`s, depth-first.
    pub tags: Vec<SimpleTag>,
    /// The whole element (header included), for verbatim pass-through.
    pub raw: Bytes,
}

impl Tags {
    /// The first tag named `name`.
    pub fn get(&self, name: &str) -> Option<&SimpleTag> {
        self.tags.iter().find(|t| t.name == name)
    }

    /// The string value of the first tag named `name`.
    pub fn get_str(&self, name: &str) -> Option<&str> {
        self.get(name).and_then(SimpleTag::as_str)
    }

    pub(crate) fn parse(
        payload: Bytes,
        base: u64,
        raw: Bytes,
        max_depth: usize,
    ) -> Result<Self, MkvError> {
        let mut tags = Vec::new();
        for child in Children::new(ElementId::TAGS, payload, base) {
            let c = child?;
            if c.id != ElementId::TAG {
                continue;
            }
            for grandchild in Children::new(ElementId::TAG, c.data, c.payload_offset) {
                let g = grandchild?;
                if g.id == ElementId::SIMPLE_TAG {
                    parse_simple_tag(g.data, g.payload_offset, g.offset, 0, max_depth, &mut tags)?;
                }
            }
        }
        Ok(Self { tags, raw })
    }
}

fn parse_simple_tag(
    payload: Bytes,
    base: u64,
    offset: u64,
    depth: usize,
    max_depth: usize,
    out: &mut Vec<SimpleTag>,
) -> Result<(), MkvError> {
    // Bounded recursion: a hostile file could nest SimpleTags to overflow the stack.
    if depth >= max_depth {
        return Err(MkvError::TooDeep {
            offset,
            limit: max_depth,
        });
    }
    let mut name = None;
    let mut value = None;
    let mut language = None;
    let mut nested = Vec::new();
    for child in Children::new(ElementId::SIMPLE_TAG, payload, base) {
        let c = child?;
        let at = c.payload_offset;
        match c.id {
            ElementId::TAG_NAME => name = Some(ebml::read_string(&c.data, c.id, at)?),
            ElementId::TAG_STRING => {
                value = Some(TagValue::String(ebml::read_string(&c.data, c.id, at)?))
            }
            ElementId::TAG_BINARY => value = Some(TagValue::Binary(c.data)),
            ElementId::TAG_LANGUAGE => language = Some(ebml::read_string(&c.data, c.id, at)?),
            ElementId::SIMPLE_TAG => nested.push(c),
            _ => {}
        }
    }
    let name = name.ok_or(MkvError::MissingElement {
        what: "TagName",
        offset,
    })?;
    out.push(SimpleTag {
        name,
        value: value.unwrap_or(TagValue::String(String::new())),
        language,
        depth,
    });
    for c in nested {
        parse_simple_tag(
            c.data,
            c.payload_offset,
            c.offset,
            depth + 1,
            max_depth,
            out,
        )?;
    }
    Ok(())
}

/// Appends one `Tags` › `Tag` › `SimpleTag` › `TagName` + `TagString` chain with 8-byte sizes
/// everywhere, exactly as PIC `mkvgenGenerateTag` writes one fragment-metadata entry.
pub fn write_tag(out: &mut BytesMut, name: &str, value: &str) {
    let leaf = |id| {
        2 + 8
            + if id == ElementId::TAG_NAME {
                name.len()
            } else {
                value.len()
            }
    };
    let simple = (leaf(ElementId::TAG_NAME) + leaf(ElementId::TAG_STRING)) as u64;
    let tag = 2 + 8 + simple;
    let tags = 2 + 8 + tag;
    for (id, size) in [
        (ElementId::TAGS, tags),
        (ElementId::TAG, tag),
        (ElementId::SIMPLE_TAG, simple),
    ] {
        ebml::write_id(out, id);
        ebml::write_size_width(out, size, 8);
    }
    for (id, data) in [(ElementId::TAG_NAME, name), (ElementId::TAG_STRING, value)] {
        ebml::write_id(out, id);
        ebml::write_size_width(out, data.len() as u64, 8);
        out.put_slice(data.as_bytes());
    }
}
