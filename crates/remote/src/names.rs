//! What requests name: repositories, digests and references, checked before anything is sent,
//! and the token scopes that cover a repository.

use berth_oci::{Digest, Reference, RepoName};

use crate::RemoteError;
use crate::error::invalid;

pub(crate) fn repo_name(repo: &str) -> Result<String, RemoteError> {
    RepoName::parse(repo).map(|r| r.as_str().to_owned()).map_err(|e| invalid(format!("repository {repo:?}: {e}")))
}

pub(crate) fn parse_digest(digest: &str) -> Result<Digest, RemoteError> {
    digest.parse().map_err(|e| invalid(format!("digest {digest:?}: {e}")))
}

pub(crate) fn parse_reference(reference: &str) -> Result<Reference, RemoteError> {
    Reference::parse(reference).map_err(|e| invalid(format!("reference {reference:?}: {e}")))
}

pub(crate) fn reference_str(reference: &Reference) -> String {
    match reference {
        Reference::Tag(t) => t.to_string(),
        Reference::Digest(d) => d.to_string(),
    }
}

pub(crate) fn pull_scope(repo: &str) -> String {
    format!("repository:{repo}:pull")
}

pub(crate) fn push_scope(repo: &str) -> String {
    format!("repository:{repo}:pull,push")
}
