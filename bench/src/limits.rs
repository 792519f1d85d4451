//! The machine's limits, measured in the same run: SHA-256 on one core (with the `sha2` code Berth
//! hashes uploads with), sequential disk write with fsync and read, and loopback HTTP throughput
//! of a trivial in-memory file server. The loopback probe runs beside every pull rather than once
//! at the start: this host's loopback speed drifts by almost 2× within minutes.

use std::io::{Read, Write};
use std::path::Path;
use std::time::Instant;

use bytes::Bytes;
use sha2::{Digest, Sha256};

use crate::Plan;

/// Bytes per second.
pub struct Limits {
    pub sha256: f64,
    pub disk_write: f64,
    pub disk_read: f64,
}

impl Limits {
    /// What bounds a push: hashing or writing, whichever is slower.
    pub fn push(&self) -> f64 {
        self.sha256.min(self.disk_write)
    }

    /// What bounds a pull: reading the bytes, or moving them over loopback HTTP at `loopback`
    /// (measured by a [`LoopbackProbe`] beside the pulls).
    pub fn pull(&self, loopback: f64) -> f64 {
        self.disk_read.min(loopback)
    }
}

pub async fn measure(plan: &Plan, work: &Path) -> anyhow::Result<Limits> {
    let size = plan.big_blob;
    let data = crate::workloads::random(size, 1);

    let started = Instant::now();
    let digest = Sha256::digest(&data);
    let sha256 = size as f64 / started.elapsed().as_secs_f64();
    std::hint::black_box(digest);

    // The data disk of a VM may absorb a first burst in the host's cache and then slow to its
    // sustained rate: the limit is the median of three tries, each writing (and reading back) a
    // new file of the blob size, kept until the end as pushed blobs are. (Rewriting one file,
    // deleted in between, let the host's cache absorb every try: ~900 MB/s here where new
    // files get ~600, the rate the pushes run into.)
    let (mut writes, mut reads, mut files) = (Vec::new(), Vec::new(), Vec::new());
    for attempt in 0..3 {
        let path = work.join(format!("disk-probe-{attempt}"));
        let started = Instant::now();
        {
            // Writeback of each 2 MiB is started as soon as it is written, as Berth's uploads
            // do: the disk's rate with an `fsync` at the end, not the page cache's and a flush.
            let mut f = std::fs::File::create(&path)?;
            let mut written = 0u64;
            for chunk in data.chunks(2 * 1024 * 1024) {
                f.write_all(chunk)?;
                start_writeback(&f, written, chunk.len() as u64);
                written += chunk.len() as u64;
            }
            f.sync_all()?;
        }
        writes.push(size as f64 / started.elapsed().as_secs_f64());
        let started = Instant::now();
        {
            let mut f = std::fs::File::open(&path)?;
            let mut buf = vec![0u8; 4 * 1024 * 1024];
            while f.read(&mut buf)? > 0 {}
        }
        reads.push(size as f64 / started.elapsed().as_secs_f64());
        files.push(path);
    }
    for path in files {
        std::fs::remove_file(path)?;
    }
    let (disk_write, disk_read) = (crate::report::median(&writes), crate::report::median(&reads));

    Ok(Limits { sha256, disk_write, disk_read })
}

/// An in-memory axum server on 127.0.0.1 holding one blob-sized body: the fastest a single HTTP
/// stream of that size moves over loopback on this host, at the moment it is asked.
pub struct LoopbackProbe {
    url: String,
    size: usize,
    client: reqwest::Client,
    server: tokio::task::JoinHandle<std::io::Result<()>>,
}

impl LoopbackProbe {
    pub async fn start(size: usize) -> anyhow::Result<LoopbackProbe> {
        let data = Bytes::from(crate::workloads::random(size, 3));
        let app = axum::Router::new().route("/blob", axum::routing::get(move || async move { data.clone() }));
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
        let url = format!("http://{}/blob", listener.local_addr()?);
        let server = tokio::spawn(async move { axum::serve(listener, app).await });
        Ok(LoopbackProbe { url, size, client: reqwest::Client::new(), server })
    }

    /// One GET of the whole body, in bytes per second.
    pub async fn measure(&self) -> anyhow::Result<f64> {
        let started = Instant::now();
        let mut r = self.client.get(&self.url).send().await?;
        let mut got = 0;
        while let Some(chunk) = r.chunk().await? {
            got += chunk.len();
        }
        anyhow::ensure!(got == self.size, "loopback server sent {got} of {} bytes", self.size);
        Ok(self.size as f64 / started.elapsed().as_secs_f64())
    }
}

impl Drop for LoopbackProbe {
    fn drop(&mut self) {
        self.server.abort();
    }
}

/// `sync_file_range(SYNC_FILE_RANGE_WRITE)`: start writing the range to disk, without waiting.
fn start_writeback(file: &std::fs::File, offset: u64, len: u64) {
    use std::os::fd::AsRawFd;
    // SAFETY: the descriptor is open while `file` is borrowed; the call only schedules writeback.
    unsafe {
        libc::sync_file_range(file.as_raw_fd(), offset as i64, len as i64, libc::SYNC_FILE_RANGE_WRITE);
    }
}
