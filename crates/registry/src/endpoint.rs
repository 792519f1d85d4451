//! Parsing a `/v2/` path into the endpoint it addresses. Repository names contain slashes, so the
//! path is read from its end: the last segments say what is addressed, the rest is the name.

use berth_oci::RepoName;

use crate::error::RegistryError;
use axum::http::StatusCode;

#[derive(Debug, PartialEq, Eq)]
pub(crate) enum Endpoint {
    Base,
    Catalog,
    Tags(RepoName),
    /// Name and raw reference (tag or digest, validated by the handler for the right error).
    Manifest(RepoName, String),
    Blob(RepoName, String),
    UploadStart(RepoName),
    Upload(RepoName, String),
    Referrers(RepoName, String),
}

impl Endpoint {
    pub(crate) fn parse(path: &str) -> Result<Endpoint, RegistryError> {
        let rest = path.strip_prefix("/v2").ok_or_else(not_found)?;
        let rest = match rest {
            "" | "/" => return Ok(Endpoint::Base),
            r => r.strip_prefix('/').ok_or_else(not_found)?,
        };
        if rest == "_catalog" {
            return Ok(Endpoint::Catalog);
        }
        let segments = rest.split('/').map(percent_decode).collect::<Result<Vec<_>, _>>()?;
        let n = segments.len();
        let seg = |i: usize| segments[i].as_str();
        let name = |count: usize| -> Result<RepoName, RegistryError> {
            if count == 0 {
                return Err(not_found());
            }
            RepoName::parse(&segments[..count].join("/")).map_err(|e| RegistryError::name_invalid(e.to_string()))
        };
        if n >= 3 && seg(n - 3) == "blobs" && seg(n - 2) == "uploads" {
            return Ok(if seg(n - 1).is_empty() {
                Endpoint::UploadStart(name(n - 3)?)
            } else {
                Endpoint::Upload(name(n - 3)?, seg(n - 1).to_owned())
            });
        }
        if n >= 2 {
            let last = seg(n - 1).to_owned();
            match seg(n - 2) {
                "tags" if last == "list" => return Ok(Endpoint::Tags(name(n - 2)?)),
                "manifests" => return Ok(Endpoint::Manifest(name(n - 2)?, last)),
                "blobs" if last == "uploads" => return Ok(Endpoint::UploadStart(name(n - 2)?)),
                "blobs" => return Ok(Endpoint::Blob(name(n - 2)?, last)),
                "referrers" => return Ok(Endpoint::Referrers(name(n - 2)?, last)),
                _ => {}
            }
        }
        Err(not_found())
    }
}

fn not_found() -> RegistryError {
    RegistryError::unsupported(StatusCode::NOT_FOUND, "no such endpoint in the distribution API")
}

/// Decodes one path segment. It may not decode to anything containing a slash or invalid UTF-8:
/// names are matched segment by segment.
fn percent_decode(segment: &str) -> Result<String, RegistryError> {
    berth_oci::escape::percent_decode(segment)
        .filter(|s| !s.contains('/'))
        .ok_or_else(|| RegistryError::name_invalid("invalid percent-encoding in path"))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn name(s: &str) -> RepoName {
        RepoName::parse(s).unwrap()
    }

    #[test]
    fn parses_every_endpoint() {
        use Endpoint::*;
        let d = "sha256:e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855";
        assert_eq!(Endpoint::parse("/v2/").unwrap(), Base);
        assert_eq!(Endpoint::parse("/v2").unwrap(), Base);
        assert_eq!(Endpoint::parse("/v2/_catalog").unwrap(), Catalog);
        assert_eq!(Endpoint::parse("/v2/a/b/tags/list").unwrap(), Tags(name("a/b")));
        assert_eq!(Endpoint::parse("/v2/a/manifests/latest").unwrap(), Manifest(name("a"), "latest".into()));
        assert_eq!(Endpoint::parse(&format!("/v2/a/b/c/blobs/{d}")).unwrap(), Blob(name("a/b/c"), d.into()));
        assert_eq!(Endpoint::parse("/v2/a/blobs/uploads/").unwrap(), UploadStart(name("a")));
        assert_eq!(Endpoint::parse("/v2/a/blobs/uploads").unwrap(), UploadStart(name("a")));
        assert_eq!(Endpoint::parse("/v2/a/blobs/uploads/xyz").unwrap(), Upload(name("a"), "xyz".into()));
        assert_eq!(Endpoint::parse(&format!("/v2/a/referrers/{d}")).unwrap(), Referrers(name("a"), d.into()));
        // Keywords may also be name components.
        assert_eq!(
            Endpoint::parse("/v2/manifests/blobs/manifests/v1").unwrap(),
            Manifest(name("manifests/blobs"), "v1".into())
        );
        assert_eq!(Endpoint::parse("/v2/a/manifests/sha256%3Aabc").unwrap(), Manifest(name("a"), "sha256:abc".into()));
    }

    #[test]
    fn refuses_bad_paths() {
        for bad in [
            "/v2/manifests/x",
            "/v2/a",
            "/v2/A/manifests/x",
            "/v2/a/../b/manifests/x",
            "/v2/a%2fb/manifests/x",
            "/v2/a/b%zz/manifests/x",
            "/v2//manifests/x",
            "/v3/",
        ] {
            assert!(Endpoint::parse(bad).is_err(), "{bad:?} accepted");
        }
        assert_eq!(Endpoint::parse("/v2/A/manifests/x").unwrap_err().status(), StatusCode::BAD_REQUEST);
    }
}
