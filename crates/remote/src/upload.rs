//! Pushing a blob: a chunked, resumable upload session (OCI distribution spec, "Pushing a blob
//! in chunks"), streamed from the caller's source without holding the blob in memory.

use std::future::Future;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use berth_oci::Digest;
use bytes::Bytes;
use futures_util::StreamExt;
use futures_util::stream::{self, BoxStream};
use reqwest::header;
use reqwest::{Body, Method, Response, StatusCode, Url};

use crate::error::invalid;
use crate::http::{header_str, ok, same_origin};
use crate::names::push_scope;
use crate::{Remote, RemoteError};

/// Bytes sent per request of a chunked upload: a failure costs at most this much to resend,
/// and a request per 8 MiB is negligible next to its transfer.
pub const CHUNK_SIZE: u64 = 8 * 1024 * 1024;

/// Failures in a row, without the registry acknowledging more bytes, before giving up.
const MAX_FAILURES: u32 = 4;

type Source = BoxStream<'static, Result<Bytes, RemoteError>>;

/// An upload session on the registry: where to send the next request and how many bytes it has.
struct Session {
    url: Url,
    offset: u64,
    chunk: u64,
}

pub(crate) async fn push<F, Fut>(
    remote: &Remote,
    repo: &str,
    digest: &Digest,
    size: u64,
    mut open: F,
) -> Result<(), RemoteError>
where
    F: FnMut(u64) -> Fut,
    Fut: Future<Output = Result<Source, RemoteError>>,
{
    let scopes = [push_scope(repo)];
    let mut session = None;
    let mut failures = 0;
    let mut best = 0;
    loop {
        let err = match attempt(remote, repo, &scopes, &mut session, digest, size, &mut open).await {
            Ok(()) => return Ok(()),
            Err(e) => e,
        };
        if !resumable(&err) || failures >= MAX_FAILURES {
            if let Some(s) = session {
                remote.cancel_upload(&scopes, s.url).await;
            }
            return Err(err);
        }
        failures += 1;
        tokio::time::sleep(Duration::from_millis(200) * 2u32.pow(failures - 1)).await;
        if let Some(s) = session.as_mut() {
            match status(remote, &scopes, s).await {
                Ok(()) => {}
                // Not reachable now: the next attempt resends from what was last acknowledged.
                Err(e) if resumable(&e) => {}
                // The registry lost the session, or refuses to go on with it (distribution does
                // after a request broke off mid-chunk): start over, unless the blob got complete.
                Err(RemoteError::NotFound(_) | RemoteError::Status { status: 400 | 416, .. }) => {
                    if let Some(s) = session.take() {
                        remote.cancel_upload(&scopes, s.url).await;
                    }
                    if let Ok(Some(n)) = remote.blob_size(repo, &digest.to_string()).await
                        && n == size
                    {
                        return Ok(());
                    }
                    best = 0;
                }
                Err(e) => return Err(e),
            }
        }
        let acknowledged = session.as_ref().map_or(0, |s| s.offset);
        if acknowledged > best {
            best = acknowledged;
            failures = 0;
        }
    }
}

/// Failures worth resuming after: the network or the registry faltered, the token expired
/// mid-upload, or the registry disagrees on the offset (its status says which).
fn resumable(e: &RemoteError) -> bool {
    e.is_retryable() || matches!(e, RemoteError::Unauthorized(_) | RemoteError::Status { status: 416, .. })
}

/// Sends what the session lacks, in chunks, the last one with the digest that closes it.
async fn attempt<F, Fut>(
    remote: &Remote,
    repo: &str,
    scopes: &[String],
    session: &mut Option<Session>,
    digest: &Digest,
    size: u64,
    open: &mut F,
) -> Result<(), RemoteError>
where
    F: FnMut(u64) -> Fut,
    Fut: Future<Output = Result<Source, RemoteError>>,
{
    let s = match session {
        Some(s) => s,
        None => session.insert(start(remote, repo, scopes).await?),
    };
    if s.offset > size {
        return Err(invalid(format!("registry holds {} bytes of a {size}-byte blob", s.offset)));
    }
    let mut feed = if s.offset < size { Some(Feed { source: open(s.offset).await?, pending: None }) } else { None };
    loop {
        let len = (size - s.offset).min(s.chunk);
        let last = s.offset + len == size;
        let slot: Slot = Arc::new(Mutex::new(None));
        let body = match feed.take() {
            Some(f) => Body::wrap_stream(window(f, len, slot.clone())),
            None => Body::from(Bytes::new()),
        };
        let (method, url) = if last {
            let mut url = s.url.clone();
            url.query_pairs_mut().append_pair("digest", &digest.to_string());
            (Method::PUT, url)
        } else {
            (Method::PATCH, s.url.clone())
        };
        let mut builder = remote
            .request(method, url)
            .header(header::CONTENT_TYPE, "application/octet-stream")
            .header(header::CONTENT_LENGTH, len);
        // The spec gives the closing PUT no Content-Range; the registry checks the whole
        // content against the digest instead.
        if !last {
            builder = builder.header(header::CONTENT_RANGE, format!("{}-{}", s.offset, s.offset + len - 1));
        }
        let sent = match remote.send_once(scopes, builder.body(body)).await {
            Ok(resp) => ok(resp).await,
            Err(e) => Err(e),
        };
        // A failure of the source explains a failed request better than the request's own
        // error, and decides whether resuming makes sense.
        let returned = slot.lock().expect("slot lock").take();
        let resp = match (sent, returned) {
            (Err(_), Some(Err(source))) => return Err(source),
            (Err(e), _) => return Err(e),
            (Ok(_), _) if last => return Ok(()),
            (Ok(resp), Some(Ok(f))) => {
                feed = Some(f);
                resp
            }
            (Ok(_), _) => {
                return Err(RemoteError::Transport("the registry answered before reading the whole chunk".into()));
            }
        };
        let acknowledged = acknowledged(&resp, true);
        if let Some(url) = upload_location(remote, &resp)? {
            s.url = url;
        }
        if acknowledged.is_some_and(|a| a != s.offset + len) {
            return Err(invalid(format!(
                "registry acknowledged {} bytes after sending bytes {}-{}",
                acknowledged.unwrap_or_default(),
                s.offset,
                s.offset + len - 1
            )));
        }
        s.offset += len;
    }
}

/// POST /v2/<repo>/blobs/uploads/: a new session.
async fn start(remote: &Remote, repo: &str, scopes: &[String]) -> Result<Session, RemoteError> {
    let url = remote.endpoint(&format!("/v2/{repo}/blobs/uploads/"))?;
    let resp = remote.send(scopes, || remote.request(Method::POST, url.clone())).await?;
    let resp = ok(resp).await?;
    if resp.status() != StatusCode::ACCEPTED {
        return Err(invalid(format!("registry answered {} to starting an upload", resp.status())));
    }
    let url = upload_location(remote, &resp)?.ok_or_else(|| invalid("upload started without a Location"))?;
    // OCI 1.1: a registry may require chunks of at least this size (all but the last).
    let min = header_str(&resp, "oci-chunk-min-length").and_then(|v| v.parse::<u64>().ok()).unwrap_or(0);
    Ok(Session { url, offset: 0, chunk: CHUNK_SIZE.max(min) })
}

/// GET on the session: how many bytes the registry has (and the session's next URL).
async fn status(remote: &Remote, scopes: &[String], s: &mut Session) -> Result<(), RemoteError> {
    let url = s.url.clone();
    let resp = remote.send(scopes, || remote.request(Method::GET, url.clone())).await?;
    let resp = ok(resp).await?;
    if let Some(url) = upload_location(remote, &resp)? {
        s.url = url;
    }
    s.offset = acknowledged(&resp, false).unwrap_or(0);
    Ok(())
}

/// The session's next URL: registries (distribution) change it on every answer.
fn upload_location(remote: &Remote, resp: &Response) -> Result<Option<Url>, RemoteError> {
    if resp.headers().get(header::LOCATION).is_none() {
        return Ok(None);
    }
    let url = remote.location(resp)?;
    // The session URL receives the registry's credentials and the blob: it must stay there.
    if !same_origin(&url, &remote.inner.base) {
        return Err(invalid(format!("upload location on another host: {url}")));
    }
    Ok(Some(url))
}

/// Bytes the registry holds, from `Range: 0-<last byte>`. `0-0` is ambiguous (distribution
/// sends it for 0 bytes as for 1): after a chunk was sent it means 1, on a status query 0, so
/// at worst a byte is resent and refused, and the upload starts over.
fn acknowledged(resp: &Response, after_chunk: bool) -> Option<u64> {
    let range = header_str(resp, header::RANGE.as_str())?;
    let range = range.trim().trim_start_matches("bytes=");
    let (start, end) = range.split_once('-')?;
    let (start, end) = (start.trim().parse::<u64>().ok()?, end.trim().parse::<u64>().ok()?);
    if start != 0 {
        return None;
    }
    if end == 0 && !after_chunk {
        return Some(0);
    }
    Some(end + 1)
}

/// The caller's stream and the part of an item that belongs to the next chunk.
struct Feed {
    source: Source,
    pending: Option<Bytes>,
}

/// Where a chunk's body leaves the feed when the chunk is complete, or the source's error.
type Slot = Arc<Mutex<Option<Result<Feed, RemoteError>>>>;

/// The next `len` bytes of `feed` as a request body. The feed is handed back through `slot` as
/// soon as the last byte is produced, not at the end of the stream: the HTTP client may drop a
/// body once it has sent Content-Length bytes without polling it again.
fn window(feed: Feed, len: u64, slot: Slot) -> impl futures_util::Stream<Item = Result<Bytes, RemoteError>> {
    stream::unfold((Some(feed), len, slot), |(feed, left, slot)| async move {
        let mut feed = feed?;
        loop {
            let mut bytes = match feed.pending.take() {
                Some(b) => b,
                None => match feed.source.next().await {
                    Some(Ok(b)) => b,
                    Some(Err(e)) => {
                        *slot.lock().expect("slot lock") = Some(Err(e.clone()));
                        return Some((Err(e), (None, 0, slot)));
                    }
                    None => {
                        let e = invalid(format!("the blob's stream ended {left} bytes early"));
                        *slot.lock().expect("slot lock") = Some(Err(e.clone()));
                        return Some((Err(e), (None, 0, slot)));
                    }
                },
            };
            if bytes.is_empty() {
                continue;
            }
            if bytes.len() as u64 > left {
                feed.pending = Some(bytes.split_off(left as usize));
            }
            let left = left - bytes.len() as u64;
            if left == 0 {
                *slot.lock().expect("slot lock") = Some(Ok(feed));
                return Some((Ok(bytes), (None, 0, slot)));
            }
            return Some((Ok(bytes), (Some(feed), left, slot)));
        }
    })
}
