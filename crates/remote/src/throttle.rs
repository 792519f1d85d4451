//! Bandwidth limit for a byte stream (a replication policy's speed).

use std::time::Duration;

use bytes::Bytes;
use futures_util::StreamExt;
use futures_util::stream::{self, BoxStream};
use tokio::time::Instant;

/// Limits `stream` to `bytes_per_second` on average, with bursts of at most one second's worth.
/// 0 means no limit. Large items are passed on in pieces so the flow stays even.
pub fn throttle<E: Send + 'static>(
    stream: BoxStream<'static, Result<Bytes, E>>,
    bytes_per_second: u64,
) -> BoxStream<'static, Result<Bytes, E>> {
    if bytes_per_second == 0 {
        return stream;
    }
    // An eighth of a second's worth, so a piece never waits long; at most 64 KiB.
    let piece = (bytes_per_second / 8).clamp(1, 64 * 1024) as usize;
    let bucket = Bucket { rate: bytes_per_second as f64, tokens: 0.0, at: Instant::now() };
    let state = (stream, Bytes::new(), bucket);
    stream::unfold(state, move |(mut inner, mut pending, mut bucket)| async move {
        while pending.is_empty() {
            match inner.next().await? {
                Ok(bytes) => pending = bytes,
                Err(e) => return Some((Err(e), (inner, pending, bucket))),
            }
        }
        let out = pending.split_to(piece.min(pending.len()));
        bucket.take(out.len()).await;
        Some((Ok(out), (inner, pending, bucket)))
    })
    .boxed()
}

/// A token bucket: `tokens` bytes may pass now; it fills at `rate` up to one second's worth. It
/// starts empty so the limit holds from the first byte.
struct Bucket {
    rate: f64,
    tokens: f64,
    at: Instant,
}

impl Bucket {
    async fn take(&mut self, n: usize) {
        let now = Instant::now();
        self.tokens = (self.tokens + now.duration_since(self.at).as_secs_f64() * self.rate).min(self.rate);
        self.at = now;
        self.tokens -= n as f64;
        if self.tokens < 0.0 {
            let wait = Duration::from_secs_f64(-self.tokens / self.rate);
            tokio::time::sleep(wait).await;
            self.tokens = 0.0;
            self.at = Instant::now();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test(start_paused = true)]
    async fn splits_and_paces() {
        let items: Vec<Result<Bytes, ()>> = vec![Ok(Bytes::from(vec![1u8; 300 * 1024])), Ok(Bytes::new())];
        let started = Instant::now();
        let out: Vec<_> = throttle(stream::iter(items).boxed(), 100 * 1024).collect().await;
        assert_eq!(out.iter().map(|r| r.as_ref().unwrap().len()).sum::<usize>(), 300 * 1024);
        assert!(out.iter().all(|r| r.as_ref().unwrap().len() <= 100 * 1024 / 8));
        let elapsed = started.elapsed();
        assert!(elapsed >= Duration::from_millis(2900) && elapsed <= Duration::from_millis(3100), "{elapsed:?}");
    }
}
