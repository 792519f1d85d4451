//! Parsing a `/v2/` request into the operation it asks for, and the access that operation needs.
//! Repository names contain slashes, so the path is read from its end: the last segments say what
//! is addressed, the rest is the name. The method then picks the operation on it.

use axum::http::{Method, StatusCode};
use berth_oci::RepoName;

use crate::access::{Action, Scope};
use crate::error::RegistryError;

/// What a `/v2/` request asks for. References, digests and session ids stay raw here: each
/// handler validates its own, for the error the spec asks for.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum Endpoint {
    Base,
    Catalog,
    Tags(RepoName),
    Referrers(RepoName, String),
    /// `GET` (with the body) or `HEAD` (without).
    GetManifest {
        name: RepoName,
        reference: String,
        body: bool,
    },
    PutManifest(RepoName, String),
    DeleteManifest(RepoName, String),
    /// `GET` (with the body) or `HEAD` (without).
    GetBlob {
        name: RepoName,
        digest: String,
        body: bool,
    },
    DeleteBlob(RepoName, String),
    StartUpload(RepoName),
    UploadStatus(RepoName, String),
    PatchUpload(RepoName, String),
    FinishUpload(RepoName, String),
    CancelUpload(RepoName, String),
}

/// What a path addresses, before the method says what to do with it.
#[derive(Debug, PartialEq, Eq)]
enum Resource {
    Base,
    Catalog,
    Tags(RepoName),
    Manifest(RepoName, String),
    Blob(RepoName, String),
    Uploads(RepoName),
    Upload(RepoName, String),
    Referrers(RepoName, String),
}

impl Endpoint {
    /// The route template of the distribution spec this endpoint is on: a metric label, never the
    /// path itself (which names repositories and digests without bound).
    pub(crate) fn route(&self) -> &'static str {
        use Endpoint::*;
        match self {
            Base => "/v2/",
            Catalog => "/v2/_catalog",
            Tags(_) => "/v2/{name}/tags/list",
            Referrers(..) => "/v2/{name}/referrers/{digest}",
            GetManifest { .. } | PutManifest(..) | DeleteManifest(..) => "/v2/{name}/manifests/{reference}",
            GetBlob { .. } | DeleteBlob(..) => "/v2/{name}/blobs/{digest}",
            StartUpload(_) => "/v2/{name}/blobs/uploads/",
            UploadStatus(..) | PatchUpload(..) | FinishUpload(..) | CancelUpload(..) => {
                "/v2/{name}/blobs/uploads/{reference}"
            }
        }
    }

    /// The operation `method` asks for on `path`: 404 for a path the API does not have, 400 for
    /// a malformed repository name, 405 for a method the path does not take.
    pub(crate) fn parse(method: &Method, path: &str) -> Result<Endpoint, RegistryError> {
        let body = *method == Method::GET;
        let endpoint = match (Resource::parse(path)?, method) {
            (Resource::Base, &Method::GET | &Method::HEAD) => Some(Endpoint::Base),
            (Resource::Catalog, &Method::GET) => Some(Endpoint::Catalog),
            (Resource::Tags(name), &Method::GET) => Some(Endpoint::Tags(name)),
            (Resource::Referrers(name, digest), &Method::GET) => Some(Endpoint::Referrers(name, digest)),
            (Resource::Manifest(name, reference), &Method::GET | &Method::HEAD) => {
                Some(Endpoint::GetManifest { name, reference, body })
            }
            (Resource::Manifest(name, reference), &Method::PUT) => Some(Endpoint::PutManifest(name, reference)),
            (Resource::Manifest(name, reference), &Method::DELETE) => Some(Endpoint::DeleteManifest(name, reference)),
            (Resource::Blob(name, digest), &Method::GET | &Method::HEAD) => {
                Some(Endpoint::GetBlob { name, digest, body })
            }
            (Resource::Blob(name, digest), &Method::DELETE) => Some(Endpoint::DeleteBlob(name, digest)),
            (Resource::Uploads(name), &Method::POST) => Some(Endpoint::StartUpload(name)),
            (Resource::Upload(name, id), &Method::GET) => Some(Endpoint::UploadStatus(name, id)),
            (Resource::Upload(name, id), &Method::PATCH) => Some(Endpoint::PatchUpload(name, id)),
            (Resource::Upload(name, id), &Method::PUT) => Some(Endpoint::FinishUpload(name, id)),
            (Resource::Upload(name, id), &Method::DELETE) => Some(Endpoint::CancelUpload(name, id)),
            _ => None,
        };
        endpoint.ok_or_else(|| RegistryError::method_not_allowed(method))
    }

    /// The access the operation needs, checked once before its handler runs.
    pub(crate) fn scope(&self) -> Scope<'_> {
        use Endpoint::*;
        match self {
            Base => Scope::Base,
            Catalog => Scope::Catalog,
            Tags(name) | Referrers(name, _) | GetManifest { name, .. } | GetBlob { name, .. } => {
                Scope::Repository(name, Action::Pull)
            }
            PutManifest(name, _)
            | StartUpload(name)
            | UploadStatus(name, _)
            | PatchUpload(name, _)
            | FinishUpload(name, _)
            | CancelUpload(name, _) => Scope::Repository(name, Action::Push),
            DeleteManifest(name, _) | DeleteBlob(name, _) => Scope::Repository(name, Action::Delete),
        }
    }
}

impl Resource {
    fn parse(path: &str) -> Result<Resource, RegistryError> {
        let rest = path.strip_prefix("/v2").ok_or_else(not_found)?;
        let rest = match rest {
            "" | "/" => return Ok(Resource::Base),
            r => r.strip_prefix('/').ok_or_else(not_found)?,
        };
        if rest == "_catalog" {
            return Ok(Resource::Catalog);
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
                Resource::Uploads(name(n - 3)?)
            } else {
                Resource::Upload(name(n - 3)?, seg(n - 1).to_owned())
            });
        }
        if n >= 2 {
            let last = seg(n - 1).to_owned();
            match seg(n - 2) {
                "tags" if last == "list" => return Ok(Resource::Tags(name(n - 2)?)),
                "manifests" => return Ok(Resource::Manifest(name(n - 2)?, last)),
                "blobs" if last == "uploads" => return Ok(Resource::Uploads(name(n - 2)?)),
                "blobs" => return Ok(Resource::Blob(name(n - 2)?, last)),
                "referrers" => return Ok(Resource::Referrers(name(n - 2)?, last)),
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
    fn parses_every_resource() {
        use Resource::*;
        let d = "sha256:e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855";
        assert_eq!(Resource::parse("/v2/").unwrap(), Base);
        assert_eq!(Resource::parse("/v2").unwrap(), Base);
        assert_eq!(Resource::parse("/v2/_catalog").unwrap(), Catalog);
        assert_eq!(Resource::parse("/v2/a/b/tags/list").unwrap(), Tags(name("a/b")));
        assert_eq!(Resource::parse("/v2/a/manifests/latest").unwrap(), Manifest(name("a"), "latest".into()));
        assert_eq!(Resource::parse(&format!("/v2/a/b/c/blobs/{d}")).unwrap(), Blob(name("a/b/c"), d.into()));
        assert_eq!(Resource::parse("/v2/a/blobs/uploads/").unwrap(), Uploads(name("a")));
        assert_eq!(Resource::parse("/v2/a/blobs/uploads").unwrap(), Uploads(name("a")));
        assert_eq!(Resource::parse("/v2/a/blobs/uploads/xyz").unwrap(), Upload(name("a"), "xyz".into()));
        assert_eq!(Resource::parse(&format!("/v2/a/referrers/{d}")).unwrap(), Referrers(name("a"), d.into()));
        // Keywords may also be name components.
        assert_eq!(
            Resource::parse("/v2/manifests/blobs/manifests/v1").unwrap(),
            Manifest(name("manifests/blobs"), "v1".into())
        );
        assert_eq!(Resource::parse("/v2/a/manifests/sha256%3Aabc").unwrap(), Manifest(name("a"), "sha256:abc".into()));
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
            assert!(Resource::parse(bad).is_err(), "{bad:?} accepted");
        }
        assert_eq!(Resource::parse("/v2/A/manifests/x").unwrap_err().status(), StatusCode::BAD_REQUEST);
    }

    #[test]
    fn each_operation_states_its_access() {
        let op = |method: Method, path: &str| Endpoint::parse(&method, path).unwrap();
        let scope = |e: &Endpoint| format!("{:?}", e.scope());
        let pull = format!("{:?}", Scope::Repository(&name("p/a"), Action::Pull));
        let push = format!("{:?}", Scope::Repository(&name("p/a"), Action::Push));
        let delete = format!("{:?}", Scope::Repository(&name("p/a"), Action::Delete));
        for (method, path, expected) in [
            (Method::GET, "/v2/p/a/manifests/v1", &pull),
            (Method::HEAD, "/v2/p/a/blobs/sha256:x", &pull),
            (Method::GET, "/v2/p/a/tags/list", &pull),
            (Method::GET, "/v2/p/a/referrers/sha256:x", &pull),
            (Method::PUT, "/v2/p/a/manifests/v1", &push),
            (Method::POST, "/v2/p/a/blobs/uploads/", &push),
            (Method::GET, "/v2/p/a/blobs/uploads/u", &push),
            (Method::PATCH, "/v2/p/a/blobs/uploads/u", &push),
            (Method::PUT, "/v2/p/a/blobs/uploads/u", &push),
            (Method::DELETE, "/v2/p/a/blobs/uploads/u", &push),
            (Method::DELETE, "/v2/p/a/manifests/v1", &delete),
            (Method::DELETE, "/v2/p/a/blobs/sha256:x", &delete),
        ] {
            assert_eq!(&scope(&op(method.clone(), path)), expected, "{method} {path}");
        }
        assert_eq!(scope(&op(Method::GET, "/v2/")), "Base");
        assert_eq!(scope(&op(Method::GET, "/v2/_catalog")), "Catalog");
    }

    #[test]
    fn a_method_the_path_does_not_take_is_405() {
        for (method, path) in [
            (Method::POST, "/v2/"),
            (Method::DELETE, "/v2/_catalog"),
            (Method::PUT, "/v2/p/a/tags/list"),
            (Method::POST, "/v2/p/a/manifests/v1"),
            (Method::PUT, "/v2/p/a/blobs/sha256:x"),
            (Method::GET, "/v2/p/a/blobs/uploads/"),
        ] {
            let e = Endpoint::parse(&method, path).unwrap_err();
            assert_eq!(e.status(), StatusCode::METHOD_NOT_ALLOWED, "{method} {path}");
        }
    }
}
