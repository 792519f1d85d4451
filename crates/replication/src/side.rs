//! The two ends of a copy: this registry (read and written in-process, as a push would) or a
//! remote one (over HTTP). Copying code is written once against [`Side`].

use anyhow::Context;
use berth_content::peer::CHANGE_TIME_HEADER;
use berth_content::{Actor, Check, Content, ContentError, Removal, Storing};
use berth_oci::{Digest, Reference, RepoName};
use berth_remote::{Remote, RemoteError};
use bytes::Bytes;
use futures_util::StreamExt;
use futures_util::stream::BoxStream;

/// A manifest read from either side.
pub struct Manifest {
    pub digest: String,
    pub media_type: String,
    pub bytes: Bytes,
}

/// What a delete at a side did.
pub enum Deletion {
    Deleted,
    Absent,
    /// The registry cannot delete tags.
    Unsupported,
}

pub enum Side {
    /// This registry; changes are recorded as made by `actor`.
    Local {
        local: Content,
        actor: Actor,
    },
    Remote(Remote),
}

fn local_err(e: ContentError) -> anyhow::Error {
    anyhow::Error::new(e).context("local registry")
}

fn remote_err(remote: &Remote) -> impl Fn(RemoteError) -> anyhow::Error + '_ {
    move |e| anyhow::Error::new(e).context(remote.url().to_owned())
}

fn repo_name(name: &str) -> anyhow::Result<RepoName> {
    RepoName::parse(name).with_context(|| format!("repository name {name:?}"))
}

fn reference(r: &str) -> anyhow::Result<Reference> {
    Reference::parse(r).with_context(|| format!("reference {r:?}"))
}

fn stamp_header(stamp: Option<i64>) -> Vec<(&'static str, String)> {
    stamp.map(|t| vec![(CHANGE_TIME_HEADER, t.to_string())]).unwrap_or_default()
}

impl Side {
    pub fn describe(&self) -> String {
        match self {
            Side::Local { .. } => "this registry".to_owned(),
            Side::Remote(r) => r.url().to_owned(),
        }
    }

    /// Every repository that holds content.
    pub async fn repositories(&self) -> anyhow::Result<Vec<String>> {
        match self {
            Side::Local { local, .. } => Ok(local.meta().list_repositories(None, i64::MAX).await?),
            Side::Remote(r) => r.catalog().await.map_err(remote_err(r)),
        }
    }

    pub async fn tags(&self, repo: &str) -> anyhow::Result<Vec<String>> {
        match self {
            Side::Local { local, .. } => {
                Ok(local.tags(repo, None, i64::MAX).await.map_err(local_err)?.unwrap_or_default())
            }
            Side::Remote(r) => r.tags(repo).await.map_err(remote_err(r)),
        }
    }

    pub async fn manifest(&self, repo: &str, reference: &str) -> anyhow::Result<Option<Manifest>> {
        Ok(match self {
            Side::Local { local, .. } => local.manifest(repo, reference).await.map_err(local_err)?.map(|m| Manifest {
                digest: m.digest,
                media_type: m.media_type,
                bytes: m.bytes,
            }),
            Side::Remote(r) => r.manifest(repo, reference).await.map_err(remote_err(r))?.map(|m| Manifest {
                digest: m.digest,
                media_type: m.media_type,
                bytes: m.bytes,
            }),
        })
    }

    /// The digest `reference` resolves to, without the content.
    pub async fn head(&self, repo: &str, reference: &str) -> anyhow::Result<Option<String>> {
        match self {
            Side::Local { .. } => Ok(self.manifest(repo, reference).await?.map(|m| m.digest)),
            Side::Remote(r) => Ok(r.head_manifest(repo, reference).await.map_err(remote_err(r))?.map(|d| d.digest)),
        }
    }

    /// Stores `m` as `reference`. `stamp`: when the change being copied was made (a Berth
    /// destination applies a tag write only if it is newer than its own last change).
    pub async fn put_manifest(
        &self,
        repo: &str,
        reference: &str,
        m: &Manifest,
        stamp: Option<i64>,
    ) -> anyhow::Result<()> {
        match self {
            Side::Local { local, actor } => {
                let (name, reference) = (repo_name(repo)?, self::reference(reference)?);
                let how = Storing { check: Check::References, stamp: None };
                let media_type = Some(m.media_type.as_str());
                local.store_manifest(&name, &reference, &m.bytes, media_type, how, actor).await.map_err(local_err)?;
                Ok(())
            }
            Side::Remote(r) => r
                .put_manifest_with(repo, reference, &m.media_type, m.bytes.clone(), &stamp_header(stamp))
                .await
                .map_err(remote_err(r)),
        }
    }

    /// Deletes `reference` (a tag: the tag only; a digest: the artifact). `stamp` as for
    /// [`Side::put_manifest`].
    pub async fn delete(&self, repo: &str, reference: &str, stamp: Option<i64>) -> anyhow::Result<Deletion> {
        let deleted = match self {
            Side::Local { local, actor } => {
                let (name, reference) = (repo_name(repo)?, self::reference(reference)?);
                local.delete_manifest(&name, &reference, actor, None).await.map_err(local_err)? == Removal::Removed
            }
            Side::Remote(r) => match r.delete_manifest_with(repo, reference, &stamp_header(stamp)).await {
                Ok(deleted) => deleted,
                // Registries of the distribution API delete manifests by digest only (2.8 answers a
                // tag with 400 DIGEST_INVALID, 3.x-era ones with 405 UNSUPPORTED): deleting the
                // artifact instead would take tags the source still has.
                Err(RemoteError::Status { status: 400 | 405, .. }) if !reference.contains(':') => {
                    return Ok(Deletion::Unsupported);
                }
                Err(e) => return Err(remote_err(r)(e)),
            },
        };
        Ok(if deleted { Deletion::Deleted } else { Deletion::Absent })
    }

    /// When tag `tag` of `repo` last changed here: `(time, true)` written, `(time, false)`
    /// deleted. Known for this registry only.
    pub async fn tag_change(&self, repo: &str, tag: &str) -> anyhow::Result<Option<(i64, bool)>> {
        match self {
            Side::Local { local, .. } => Ok(local.meta().tag_change(repo, tag).await?),
            Side::Remote(_) => Ok(None),
        }
    }

    pub async fn blob_size(&self, repo: &str, digest: &str) -> anyhow::Result<Option<u64>> {
        match self {
            Side::Local { local, .. } => local.blob_size(repo, digest).await.map_err(local_err),
            Side::Remote(r) => r.blob_size(repo, digest).await.map_err(remote_err(r)),
        }
    }

    /// Streams blob `digest` (of `size` bytes) from `offset`.
    pub async fn open_blob(
        &self,
        repo: &str,
        digest: &str,
        offset: u64,
        size: u64,
    ) -> Result<BoxStream<'static, Result<Bytes, RemoteError>>, RemoteError> {
        match self {
            Side::Local { local, .. } => {
                let digest: Digest =
                    digest.parse().map_err(|_| RemoteError::Transport(format!("bad digest {digest}")))?;
                let stream = local
                    .read_blob(&digest, offset, size.saturating_sub(offset))
                    .await
                    .map_err(|e| RemoteError::Transport(format!("local registry: {e}")))?;
                Ok(stream.map(|r| r.map_err(|e| RemoteError::Transport(format!("local blob: {e}")))).boxed())
            }
            Side::Remote(r) => match r.blob(repo, digest, offset).await? {
                Some(b) => Ok(b.stream),
                None => Err(RemoteError::NotFound(format!("blob {digest} is gone from {}", r.url()))),
            },
        }
    }

    /// Digests of the manifests whose subject is `digest` (signatures, SBOMs...).
    pub async fn referrers(&self, repo: &str, digest: &str) -> anyhow::Result<Vec<String>> {
        Ok(match self {
            Side::Local { local, .. } => {
                local.referrers(repo, digest, None).await.map_err(local_err)?.into_iter().map(|r| r.digest).collect()
            }
            Side::Remote(r) => {
                r.referrers(repo, digest).await.map_err(remote_err(r))?.into_iter().map(|d| d.digest).collect()
            }
        })
    }

    /// Stores blob `digest` of `size` bytes into `repo`, reading it from `src` (a mount when
    /// this registry already holds it; resumed after a failure when the destination is remote).
    pub async fn copy_blob(
        &self,
        src: &Side,
        src_repo: &str,
        repo: &str,
        digest: &str,
        size: u64,
        speed: u64,
    ) -> anyhow::Result<()> {
        let open = |offset: u64| async move {
            let stream = src.open_blob(src_repo, digest, offset, size).await?;
            Ok(if speed > 0 { berth_remote::throttle(stream, speed) } else { stream })
        };
        match self {
            Side::Local { local, .. } => {
                let name = repo_name(repo)?;
                if local.mount_blob(&name, digest).await.map_err(local_err)? {
                    return Ok(());
                }
                let parsed: Digest = digest.parse().with_context(|| format!("bad digest {digest}"))?;
                let stream = open(0).await.with_context(|| format!("reading {digest} from {}", src.describe()))?;
                local.write_blob(&name, &parsed, stream).await.map_err(local_err)?;
                Ok(())
            }
            Side::Remote(r) => r.push_blob(repo, digest, size, open).await.map_err(remote_err(r)),
        }
    }
}
