//! Who makes a change, and the event it writes in the change's own transaction.

use berth_meta::Event;
use berth_meta::time::now;
use berth_oci::{Digest, RepoName};

/// Who makes a change: a client over HTTP, or Berth itself (replication, proxy cache).
#[derive(Debug, Clone)]
pub struct Actor {
    pub username: String,
    pub source_ip: String,
    /// The registry the change was replicated from, if it was.
    pub origin: Option<String>,
}

/// What an event of a repository is about.
#[derive(Debug, Clone, Copy)]
pub enum About<'a> {
    /// An artifact, as the client named it (`resource`), with its digest and the tag it was
    /// addressed by, if any.
    Artifact { resource: &'a str, digest: &'a Digest, tag: Option<&'a str> },
    /// A tag, with the digest of its artifact when known.
    Tag { tag: &'a str, digest: Option<&'a Digest> },
    /// A blob.
    Blob(&'a Digest),
    /// The repository itself.
    Repository,
}

impl Actor {
    /// Berth itself, doing work for `username` (a replication policy, say), from no address.
    pub fn system(username: impl Into<String>, origin: Option<String>) -> Actor {
        Actor { username: username.into(), source_ip: String::new(), origin }
    }

    /// The event of this actor doing `operation` (`create`, `delete`, `pull`) in repository
    /// `name`, about `about`.
    pub fn event(&self, name: &RepoName, operation: &'static str, about: About<'_>) -> Event {
        let (resource, resource_type, digest, tag) = match about {
            About::Artifact { resource, digest, tag } => (resource.to_owned(), "artifact", Some(digest), tag),
            About::Tag { tag, digest } => (format!("{name}:{tag}"), "tag", digest, Some(tag)),
            About::Blob(digest) => (format!("{name}@{digest}"), "blob", Some(digest), None),
            About::Repository => (name.to_string(), "repository", None, None),
        };
        Event {
            repository: Some(name.to_string()),
            digest: digest.map(Digest::to_string),
            tag: tag.map(str::to_owned),
            ..self.change(name.project(), resource, resource_type, operation)
        }
    }

    /// The event of this actor changing something outside any repository (`project` may be
    /// empty), such as a project created for replication.
    pub fn change(
        &self,
        project: &str,
        resource: String,
        resource_type: &'static str,
        operation: &'static str,
    ) -> Event {
        Event {
            project: project.to_owned(),
            username: self.username.clone(),
            resource,
            resource_type,
            operation,
            source_ip: self.source_ip.clone(),
            op_time: now(),
            repository: None,
            digest: None,
            tag: None,
            origin: self.origin.clone(),
        }
    }
}
