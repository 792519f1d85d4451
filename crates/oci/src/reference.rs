//! Manifest references: a tag or a digest.

use std::fmt;

use crate::digest::{Digest, DigestError};

/// A validated tag: `[a-zA-Z0-9_][a-zA-Z0-9._-]{0,127}`.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Tag(String);

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ReferenceError {
    #[error("tag must match [a-zA-Z0-9_][a-zA-Z0-9._-]{{0,127}}")]
    BadTag,
    #[error(transparent)]
    BadDigest(#[from] DigestError),
}

impl Tag {
    pub fn parse(s: &str) -> Result<Tag, ReferenceError> {
        let b = s.as_bytes();
        let word = |x: &u8| x.is_ascii_alphanumeric() || *x == b'_';
        let valid = !b.is_empty()
            && b.len() <= 128
            && word(&b[0])
            && b[1..].iter().all(|x| word(x) || *x == b'.' || *x == b'-');
        if valid { Ok(Tag(s.to_owned())) } else { Err(ReferenceError::BadTag) }
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for Tag {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// What follows `/manifests/` in a URL.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Reference {
    Tag(Tag),
    Digest(Digest),
}

impl Reference {
    /// A reference containing `:` is a digest (tags cannot contain one), anything else a tag.
    pub fn parse(s: &str) -> Result<Reference, ReferenceError> {
        if s.contains(':') { Ok(Reference::Digest(s.parse()?)) } else { Ok(Reference::Tag(Tag::parse(s)?)) }
    }
}

/// As it appears in a URL: the tag, or the digest.
impl fmt::Display for Reference {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Reference::Tag(t) => t.fmt(f),
            Reference::Digest(d) => d.fmt(f),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tags_and_digests() {
        assert!(matches!(Reference::parse("latest"), Ok(Reference::Tag(_))));
        assert!(matches!(Reference::parse("_v1.2-rc"), Ok(Reference::Tag(_))));
        assert!(Reference::parse(&"a".repeat(128)).is_ok());
        assert!(Reference::parse(&"a".repeat(129)).is_err());
        assert!(Reference::parse(".hidden").is_err());
        assert!(Reference::parse("-x").is_err());
        assert!(Reference::parse("a/b").is_err());
        assert!(Reference::parse("").is_err());
        assert!(Reference::parse("sha256:zz").is_err());
        let d = "sha256:e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855";
        assert!(matches!(Reference::parse(d), Ok(Reference::Digest(_))));
        for r in ["latest", d] {
            assert_eq!(Reference::parse(r).unwrap().to_string(), r);
        }
    }
}
