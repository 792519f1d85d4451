//! Blobs: their size, their bytes streamed from an offset, mounts from another repository, and
//! pushes (the upload session itself is in `upload.rs`).

use std::future::Future;

use bytes::Bytes;
use futures_util::StreamExt;
use futures_util::stream::BoxStream;
use reqwest::header::{self, HeaderMap, HeaderValue};
use reqwest::{Method, StatusCode, Url};

use crate::error::{from_response, invalid};
use crate::http::{content_length, ok, same_origin};
use crate::names::{parse_digest, pull_scope, push_scope, repo_name};
use crate::{BlobStream, Remote, RemoteError, upload};

impl Remote {
    /// The size of a blob, or `None` if the repository does not have it.
    pub async fn blob_size(&self, repo: &str, digest: &str) -> Result<Option<u64>, RemoteError> {
        let repo = repo_name(repo)?;
        let digest = parse_digest(digest)?;
        let url = self.endpoint(&format!("/v2/{repo}/blobs/{digest}"))?;
        let scopes = [pull_scope(&repo)];
        let resp = self.send(&scopes, || self.request(Method::HEAD, url.clone())).await?;
        let resp = self.follow(resp, &scopes, Method::HEAD, HeaderMap::new()).await?;
        if resp.status() == StatusCode::NOT_FOUND {
            return Ok(None);
        }
        let resp = ok(resp).await?;
        content_length(&resp).map(Some).ok_or_else(|| invalid(format!("no Content-Length for blob {digest}")))
    }

    /// A blob's bytes from `offset` on, or `None` if the repository does not have it. Redirects
    /// (to presigned storage URLs) are followed without the registry's credentials.
    pub async fn blob(&self, repo: &str, digest: &str, offset: u64) -> Result<Option<BlobStream>, RemoteError> {
        let repo = repo_name(repo)?;
        let digest = parse_digest(digest)?;
        let url = self.endpoint(&format!("/v2/{repo}/blobs/{digest}"))?;
        let scopes = [pull_scope(&repo)];
        let mut range = HeaderMap::new();
        if offset > 0 {
            range.insert(header::RANGE, HeaderValue::from_str(&format!("bytes={offset}-")).expect("ASCII"));
        }
        let resp = self.send(&scopes, || self.request(Method::GET, url.clone()).headers(range.clone())).await?;
        let resp = self.follow(resp, &scopes, Method::GET, range).await?;
        if resp.status() == StatusCode::NOT_FOUND {
            return Ok(None);
        }
        let resp = ok(resp).await?;
        let full = resp.status() == StatusCode::OK;
        let length = content_length(&resp);
        let stream = resp.bytes_stream().map(|r| r.map_err(RemoteError::from)).boxed();
        if offset > 0 && full {
            // The registry (or its storage) ignored the Range: the bytes before it are dropped here.
            let size = length.map(|n| n.saturating_sub(offset));
            return Ok(Some(BlobStream { size, stream: skip(stream, offset) }));
        }
        Ok(Some(BlobStream { size: length, stream }))
    }

    /// Makes the blob `digest` of repository `from` available in `repo` without copying it.
    /// `false` when the registry cannot (it then opened an upload, which is cancelled).
    pub async fn mount_blob(&self, repo: &str, digest: &str, from: &str) -> Result<bool, RemoteError> {
        let repo = repo_name(repo)?;
        let digest = parse_digest(digest)?;
        let from = repo_name(from)?;
        let mut url = self.endpoint(&format!("/v2/{repo}/blobs/uploads/"))?;
        url.query_pairs_mut().append_pair("mount", &digest.to_string()).append_pair("from", &from);
        let scopes = [push_scope(&repo), pull_scope(&from)];
        let resp = self.send(&scopes, || self.request(Method::POST, url.clone())).await?;
        match resp.status() {
            StatusCode::CREATED => Ok(true),
            StatusCode::ACCEPTED => {
                let location = self.location(&resp)?;
                self.cancel_upload(&scopes, location).await;
                Ok(false)
            }
            _ => Err(from_response(resp).await),
        }
    }

    /// Uploads blob `digest` of `size` bytes; `open(offset)` gives its bytes from `offset` on.
    /// The blob goes in chunks of [`CHUNK_SIZE`](crate::CHUNK_SIZE), each one streaming request;
    /// after a failure the upload resumes from the offset the registry acknowledges (calling
    /// `open` again), a bounded number of times, or starts over if the registry lost the upload.
    /// The registry verifies the digest when the upload completes.
    pub async fn push_blob<F, Fut>(&self, repo: &str, digest: &str, size: u64, open: F) -> Result<(), RemoteError>
    where
        F: FnMut(u64) -> Fut,
        Fut: Future<Output = Result<BoxStream<'static, Result<Bytes, RemoteError>>, RemoteError>>,
    {
        let repo = repo_name(repo)?;
        let digest = parse_digest(digest)?;
        upload::push(self, &repo, &digest, size, open).await
    }

    /// Cancels an upload session, best effort: the registry expires abandoned ones anyway.
    pub(crate) async fn cancel_upload(&self, scopes: &[String], location: Url) {
        if same_origin(&location, &self.inner.base) {
            let _ = self.send(scopes, || self.request(Method::DELETE, location.clone())).await;
        }
    }
}

/// `stream` without its first `n` bytes.
fn skip(
    stream: BoxStream<'static, Result<Bytes, RemoteError>>,
    n: u64,
) -> BoxStream<'static, Result<Bytes, RemoteError>> {
    futures_util::stream::unfold((stream, n), |(mut stream, mut left)| async move {
        loop {
            let mut bytes = match stream.next().await? {
                Ok(bytes) => bytes,
                Err(e) => return Some((Err(e), (stream, left))),
            };
            if left >= bytes.len() as u64 {
                left -= bytes.len() as u64;
                continue;
            }
            let rest = bytes.split_off(left as usize);
            return Some((Ok(rest), (stream, 0)));
        }
    })
    .boxed()
}
