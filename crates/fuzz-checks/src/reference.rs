//! The parts of a `/v2/<name>/manifests/<reference>` path: the percent-decoded segment, the
//! repository name, the reference (tag or digest) and the digest alone.

use berth_oci::escape::percent_decode;
use berth_oci::{Digest, Reference, RepoName, Tag};

pub fn check(data: &[u8]) {
    let Some(text) = crate::text(data) else { return };
    check_decode(text);
    check_name(text);
    check_reference(text);
    check_digest(text);
}

fn check_decode(segment: &str) {
    let Some(decoded) = percent_decode(segment) else { return };
    if !segment.contains('%') {
        assert_eq!(decoded, segment, "nothing to decode");
    }
    let encoded: String = decoded.bytes().map(|b| format!("%{b:02X}")).collect();
    assert_eq!(percent_decode(&encoded).as_deref(), Some(decoded.as_str()), "{segment:?} encoded again");
}

fn check_name(s: &str) {
    let Ok(name) = RepoName::parse(s) else { return };
    assert_eq!(name.as_str(), s);
    assert!(s.len() <= berth_oci::name::MAX_NAME_LEN, "{s:?} is too long");
    // Names become paths and keys: no empty, `.` or `..` component, nothing outside [a-z0-9._/-].
    for component in s.split('/') {
        assert!(!matches!(component, "" | "." | ".."), "{s:?} has component {component:?}");
    }
    assert!(s.bytes().all(|b| matches!(b, b'a'..=b'z' | b'0'..=b'9' | b'.' | b'_' | b'/' | b'-')), "{s:?}");
    let project = RepoName::parse(name.project()).unwrap_or_else(|e| panic!("project of {s:?}: {e}"));
    if s.contains('/') {
        assert_eq!(format!("{}/{}", project.as_str(), name.without_project()), s);
    }
}

fn check_reference(s: &str) {
    let Ok(reference) = Reference::parse(s) else { return };
    assert_eq!(reference.to_string(), s, "a reference prints as it was given");
    assert_eq!(Reference::parse(&reference.to_string()).as_ref(), Ok(&reference));
    if let Reference::Tag(tag) = &reference {
        assert!((1..=128).contains(&s.len()) && !s.contains(':') && s.is_ascii(), "tag {s:?}");
        assert_eq!(Tag::parse(tag.as_str()).as_ref(), Ok(tag));
    }
}

fn check_digest(s: &str) {
    let Ok(digest) = s.parse::<Digest>() else { return };
    assert_eq!(digest.to_string(), s, "a digest prints as it was given");
    // The encoded part names a file: lowercase hex only, of the algorithm's length.
    let hex = digest.hex();
    assert!(matches!(hex.len(), 64 | 128) && hex.bytes().all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b)));
    assert_eq!(s.strip_suffix(hex).and_then(|a| a.strip_suffix(':')), Some(digest.algorithm().as_str()));
}
