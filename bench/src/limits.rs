//! The machine's limits, measured in the same run: SHA-256 on one core (with the `sha2` code Berth
//! hashes uploads with), sequential disk write with fsync and read, and loopback HTTP throughput
//! of a trivial static file server (nginx). The loopback probe runs beside every pull rather than once
//! at the start: this host's loopback speed drifts by almost 2× within minutes.

use std::io::{Read, Write};
use std::path::Path;
use std::time::Instant;

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

/// nginx on 127.0.0.1 serving one blob-sized file, a trivial static file server: the fastest a
/// single HTTP stream of that size moves over loopback on this host, at the moment it is asked,
/// to the client of the single-stream pull. (An in-memory server copies every byte into the
/// socket: it ran at ~80% of Berth's pulls, which made it no limit.)
///
/// nginx sends a file in one of two ways, and which is faster depends on the host's state: with
/// `sendfile` (and `tcp_nopush`, its fastest setting for it here) the receiving side copies
/// straight out of the page cache, while read into 2 MiB buffers and written out (faster than
/// its default 32 KiB ones) the copying is shared between the two processes, on two cores. Both
/// are timed and the faster counts.
pub struct LoopbackProbe {
    /// The file sent with `sendfile`, and read and written.
    urls: [String; 2],
    size: usize,
    nginx: std::process::Child,
}

impl LoopbackProbe {
    pub async fn start(size: usize, work: &Path) -> anyhow::Result<LoopbackProbe> {
        let dir = work.join("loopback");
        std::fs::create_dir_all(&dir)?;
        std::fs::write(dir.join("blob"), crate::workloads::random(size, 3))?;
        let port = berth_testkit::free_port();
        let d = dir.display();
        // `user root`: the work folder is private to this user; nginx ignores the line when it
        // does not run as root.
        let config = format!(
            r#"daemon off;
user root;
worker_processes 1;
pid {d}/nginx.pid;
error_log {d}/error.log;
events {{ worker_connections 64; }}
http {{
    access_log off;
    sendfile on;
    tcp_nopush on;
    output_buffers 2 2m;
    client_body_temp_path {d}/body;
    proxy_temp_path {d}/proxy;
    fastcgi_temp_path {d}/fastcgi;
    uwsgi_temp_path {d}/uwsgi;
    scgi_temp_path {d}/scgi;
    server {{
        listen 127.0.0.1:{port};
        root {d};
        location /copied/ {{ alias {d}/; sendfile off; }}
    }}
}}
"#
        );
        std::fs::write(dir.join("nginx.conf"), config)?;
        let nginx = std::process::Command::new(nginx_binary())
            .arg("-e")
            .arg(dir.join("error.log"))
            .arg("-c")
            .arg(dir.join("nginx.conf"))
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .spawn()?;
        let probe = LoopbackProbe {
            urls: [format!("http://127.0.0.1:{port}/blob"), format!("http://127.0.0.1:{port}/copied/blob")],
            size,
            nginx,
        };
        for _ in 0..100 {
            if tokio::net::TcpStream::connect(("127.0.0.1", port)).await.is_ok() {
                return Ok(probe);
            }
            tokio::time::sleep(std::time::Duration::from_millis(50)).await;
        }
        anyhow::bail!("nginx did not listen on {port}: {}", std::fs::read_to_string(dir.join("error.log"))?)
    }

    /// The faster of one GET of the whole file sent each way, by the client of the single-stream
    /// pull, in bytes per second.
    pub async fn measure(&self) -> anyhow::Result<f64> {
        let mut fastest: f64 = 0.0;
        for url in &self.urls {
            let (got, rate) = crate::workloads::curl_get(url, None).await?;
            anyhow::ensure!(got == self.size, "loopback server sent {got} of {} bytes from {url}", self.size);
            fastest = fastest.max(rate);
        }
        Ok(fastest)
    }
}

impl Drop for LoopbackProbe {
    fn drop(&mut self) {
        // SIGTERM to the master, which stops its worker: SIGKILL would leave the worker behind.
        // SAFETY: kill(2) on the pid of our own child, not reaped yet.
        unsafe {
            libc::kill(self.nginx.id() as libc::pid_t, libc::SIGTERM);
        }
        let _ = self.nginx.wait();
    }
}

/// `nginx` from PATH, or Debian's `/usr/sbin/nginx` (not on the PATH of non-root users).
fn nginx_binary() -> &'static str {
    if std::process::Command::new("nginx").arg("-v").output().is_ok_and(|o| o.status.success()) {
        "nginx"
    } else {
        "/usr/sbin/nginx"
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
