//! `Remote` against a real CNCF distribution registry (Debian's `docker-registry`, 2.8) on
//! loopback, each test with its own registry and filesystem store.

use std::future::{Ready, ready};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use berth_oci::Digest;
use berth_oci::media_type::{OCI_INDEX, OCI_MANIFEST};
use berth_remote::{CHUNK_SIZE, Credential, Descriptor, Remote, RemoteConfig, RemoteError, throttle};
use berth_testkit::peer::PeerRegistry;
use berth_testkit::random_bytes;
use bytes::Bytes;
use futures_util::StreamExt;
use futures_util::stream::{self, BoxStream};
use serde_json::json;

const MIB: usize = 1024 * 1024;
const USER: &str = "replicator";
const PASSWORD: &str = "s3cret-pass";
/// bcrypt (cost 4, for speed) of PASSWORD, made with Python's `crypt` (`$2b$`, which
/// distribution's htpasswd accepts).
const PASSWORD_BCRYPT: &str = "$2b$04$COc6Sf..yNzS/bhLqz4Og.Rd7WpTiKA.jZoIPJxgneff7BRzEw5iC";

/// A registry that wants Basic credentials (htpasswd).
fn with_htpasswd() -> PeerRegistry {
    PeerRegistry::start_with(|dir| {
        let path = dir.join("htpasswd");
        std::fs::write(&path, format!("{USER}:{PASSWORD_BCRYPT}\n")).unwrap();
        format!("auth:\n  htpasswd:\n    realm: test\n    path: {}\n", path.display())
    })
}

/// A [`Remote`] of a peer registry.
trait RemoteOf {
    fn remote(&self, credential: Option<Credential>) -> Remote;
}

impl RemoteOf for PeerRegistry {
    fn remote(&self, credential: Option<Credential>) -> Remote {
        Remote::new(config(&self.url(), credential)).unwrap()
    }
}

fn config(url: &str, credential: Option<Credential>) -> RemoteConfig {
    RemoteConfig {
        url: url.to_owned(),
        credential,
        insecure: false,
        headers: vec![("X-Berth-Origin".into(), "test".into())],
        timeout: Duration::from_secs(5),
    }
}

fn credential(password: &str) -> Option<Credential> {
    Some(Credential { username: USER.into(), password: password.into() })
}

fn random(len: usize) -> Bytes {
    static SEED: AtomicU64 = AtomicU64::new(0);
    Bytes::from(random_bytes(len, SEED.fetch_add(1, Ordering::Relaxed)))
}

fn digest(data: &[u8]) -> String {
    Digest::sha256_of(data).to_string()
}

type Source = BoxStream<'static, Result<Bytes, RemoteError>>;

/// `data` from `offset` on, in 1 MiB items (and a short one where `offset` falls mid-MiB).
fn pieces(data: &Bytes, offset: u64) -> Vec<Result<Bytes, RemoteError>> {
    let mut out = Vec::new();
    let mut at = offset as usize;
    while at < data.len() {
        let end = ((at / MIB + 1) * MIB).min(data.len());
        out.push(Ok(data.slice(at..end)));
        at = end;
    }
    out
}

/// An `open` for `push_blob` that serves `data`.
fn opener(data: Bytes) -> impl FnMut(u64) -> Ready<Result<Source, RemoteError>> {
    move |offset| ready(Ok(stream::iter(pieces(&data, offset)).boxed()))
}

/// An `open` whose first stream fails after `fail_at` bytes; records the offsets asked for.
fn failing_opener(
    data: Bytes,
    fail_at: usize,
    error: RemoteError,
    offsets: Arc<Mutex<Vec<u64>>>,
) -> impl FnMut(u64) -> Ready<Result<Source, RemoteError>> {
    move |offset| {
        let first = {
            let mut offsets = offsets.lock().unwrap();
            offsets.push(offset);
            offsets.len() == 1
        };
        let mut items = pieces(&data, offset);
        if first {
            items.truncate(fail_at / MIB);
            items.push(Err(error.clone()));
        }
        ready(Ok(stream::iter(items).boxed()))
    }
}

async fn read_blob(remote: &Remote, repo: &str, digest: &str, offset: u64) -> (Option<u64>, Vec<u8>) {
    let blob = remote.blob(repo, digest, offset).await.unwrap().expect("blob exists");
    let mut out = Vec::new();
    let mut stream = blob.stream;
    while let Some(bytes) = stream.next().await {
        out.extend_from_slice(&bytes.unwrap());
    }
    (blob.size, out)
}

async fn push_small(remote: &Remote, repo: &str, data: &[u8]) -> Descriptor {
    let data = Bytes::copy_from_slice(data);
    let d = digest(&data);
    remote.push_blob(repo, &d, data.len() as u64, opener(data.clone())).await.unwrap();
    Descriptor { digest: d, media_type: String::new(), size: data.len() as u64 }
}

/// Pushes a config and a layer and returns an OCI image manifest referencing them.
async fn image_manifest(remote: &Remote, repo: &str, config_type: &str) -> Bytes {
    let config = push_small(remote, repo, format!("{{\"type\":\"{config_type}\"}}").as_bytes()).await;
    let layer = push_small(remote, repo, &random(1024)).await;
    let manifest = json!({
        "schemaVersion": 2,
        "mediaType": OCI_MANIFEST,
        "config": {"mediaType": config_type, "digest": config.digest, "size": config.size},
        "layers": [{"mediaType": "application/vnd.oci.image.layer.v1.tar+gzip", "digest": layer.digest, "size": layer.size}],
    });
    Bytes::from(serde_json::to_vec(&manifest).unwrap())
}

#[tokio::test]
async fn ping_and_refused_configuration() {
    let registry = PeerRegistry::start();
    let remote = registry.remote(None);
    remote.ping().await.unwrap();
    assert_eq!(remote.url(), registry.url());

    for url in ["127.0.0.1:5000", "ftp://127.0.0.1", "http://127.0.0.1:5000/prefix", "http://u:p@127.0.0.1", "http://"]
    {
        assert!(matches!(Remote::new(config(url, None)), Err(RemoteError::Invalid(_))), "{url}");
    }
    let mut bad_header = config(&registry.url(), None);
    bad_header.headers = vec![("bad header".into(), "x".into())];
    assert!(matches!(Remote::new(bad_header), Err(RemoteError::Invalid(_))));

    // Bad names and digests are refused before any request.
    let d = digest(b"x");
    assert!(matches!(remote.tags("Upper/Case").await, Err(RemoteError::Invalid(_))));
    assert!(matches!(remote.blob_size("ok/repo", "sha256:short").await, Err(RemoteError::Invalid(_))));
    assert!(matches!(remote.manifest("ok/repo", "bad tag!").await, Err(RemoteError::Invalid(_))));
    assert!(matches!(remote.mount_blob("ok/repo", &d, "../x").await, Err(RemoteError::Invalid(_))));

    // Nothing listens on a port just released: a transport error, worth retrying.
    let closed = berth_testkit::free_port();
    let err = Remote::new(config(&format!("http://127.0.0.1:{closed}"), None)).unwrap().ping().await.unwrap_err();
    assert!(matches!(err, RemoteError::Transport(_)) && err.is_retryable(), "{err:?}");
}

#[tokio::test]
async fn chunked_push_then_head_and_stream() {
    let registry = PeerRegistry::start();
    let remote = registry.remote(None);
    let data = random(20 * MIB + 12345);
    let d = digest(&data);
    let size = data.len() as u64;
    assert!(size > 2 * CHUNK_SIZE, "the push must take several chunks");

    assert_eq!(remote.blob_size("lib/big", &d).await.unwrap(), None);
    assert!(remote.blob("lib/big", &d, 0).await.unwrap().is_none());
    remote.push_blob("lib/big", &d, size, opener(data.clone())).await.unwrap();

    assert_eq!(remote.blob_size("lib/big", &d).await.unwrap(), Some(size));
    let (len, bytes) = read_blob(&remote, "lib/big", &d, 0).await;
    assert_eq!(len, Some(size));
    assert_eq!(digest(&bytes), d);
    let offset = 5 * MIB as u64 + 7;
    let (len, bytes) = read_blob(&remote, "lib/big", &d, offset).await;
    assert_eq!(len, Some(size - offset));
    assert_eq!(bytes, data[offset as usize..]);

    // Small and empty blobs go in one request.
    let small = push_small(&remote, "lib/big", b"hello").await;
    assert_eq!(remote.blob_size("lib/big", &small.digest).await.unwrap(), Some(5));
    let empty = push_small(&remote, "lib/big", b"").await;
    assert_eq!(read_blob(&remote, "lib/big", &empty.digest, 0).await.1, b"");

    // The registry checks the digest: content that does not match it is refused.
    let wrong = digest(b"something else");
    let err = remote.push_blob("lib/big", &wrong, 5, opener(Bytes::from_static(b"hello"))).await.unwrap_err();
    assert!(
        matches!(err, RemoteError::Status { status: 400, ref message } if message.contains("DIGEST_INVALID")),
        "{err:?}"
    );
    assert_eq!(remote.blob_size("lib/big", &wrong).await.unwrap(), None);
}

#[tokio::test]
async fn push_resumes_after_a_failing_source() {
    let registry = PeerRegistry::start();
    let remote = registry.remote(None);
    let data = random(20 * MIB);
    let d = digest(&data);
    let size = data.len() as u64;
    let simulated = RemoteError::Transport("simulated reset".into());

    // Failing right after the first chunk: the registry acknowledged it, the push resumes there.
    let offsets = Arc::new(Mutex::new(Vec::new()));
    let open = failing_opener(data.clone(), CHUNK_SIZE as usize, simulated.clone(), offsets.clone());
    remote.push_blob("resume/a", &d, size, open).await.unwrap();
    assert_eq!(*offsets.lock().unwrap(), [0, CHUNK_SIZE]);
    assert_eq!(digest(&read_blob(&remote, "resume/a", &d, 0).await.1), d);

    // Failing mid-chunk: distribution refuses to go on with a session whose request broke off,
    // so the push resumes from what the registry holds or starts over; either way it completes.
    let offsets = Arc::new(Mutex::new(Vec::new()));
    let open = failing_opener(data.clone(), 9 * MIB, simulated, offsets.clone());
    remote.push_blob("resume/b", &d, size, open).await.unwrap();
    let offsets = offsets.lock().unwrap().clone();
    assert_eq!(offsets.len(), 2, "{offsets:?}");
    assert!(offsets[1] <= 9 * MIB as u64, "{offsets:?}");
    assert_eq!(remote.blob_size("resume/b", &d).await.unwrap(), Some(size));
    assert_eq!(digest(&read_blob(&remote, "resume/b", &d, 0).await.1), d);

    // A source that fails for good is not retried.
    let offsets = Arc::new(Mutex::new(Vec::new()));
    let fatal = RemoteError::Invalid("source is corrupt".into());
    let open = failing_opener(data.clone(), 2 * MIB, fatal.clone(), offsets.clone());
    let err = remote.push_blob("resume/c", &d, size, open).await.unwrap_err();
    assert_eq!(err, fatal);
    assert_eq!(offsets.lock().unwrap().len(), 1);

    // A source shorter than announced is an error, not a truncated blob.
    let short = data.slice(..3 * MIB);
    let err = remote.push_blob("resume/c", &d, size, opener(short)).await.unwrap_err();
    assert!(matches!(err, RemoteError::Invalid(ref m) if m.contains("early")), "{err:?}");
    assert_eq!(remote.blob_size("resume/c", &d).await.unwrap(), None);
}

#[tokio::test]
async fn mount_across_repositories() {
    let registry = PeerRegistry::start();
    let remote = registry.remote(None);
    let blob = push_small(&remote, "team/source", &random(4096)).await;

    assert!(remote.mount_blob("other/target", &blob.digest, "team/source").await.unwrap());
    assert_eq!(remote.blob_size("other/target", &blob.digest).await.unwrap(), Some(4096));

    // Nothing to mount: the registry opens an upload instead, which is cancelled.
    let unknown = digest(b"not pushed");
    assert!(!remote.mount_blob("other/target", &unknown, "team/source").await.unwrap());
    assert_eq!(remote.blob_size("other/target", &unknown).await.unwrap(), None);
}

#[tokio::test]
async fn manifests_indexes_tags_and_referrers() {
    let registry = PeerRegistry::start();
    let remote = registry.remote(None);
    let repo = "apps/web";

    assert_eq!(remote.manifest(repo, "latest").await.unwrap(), None);
    assert_eq!(remote.head_manifest(repo, "latest").await.unwrap(), None);
    assert_eq!(remote.tags(repo).await.unwrap(), Vec::<String>::new());

    let image = image_manifest(&remote, repo, "application/vnd.oci.image.config.v1+json").await;
    let image_digest = digest(&image);
    remote.put_manifest(repo, "v1", OCI_MANIFEST, image.clone()).await.unwrap();
    remote.put_manifest(repo, "v2", OCI_MANIFEST, image.clone()).await.unwrap();

    let got = remote.manifest(repo, "v1").await.unwrap().unwrap();
    assert_eq!(
        (got.digest.as_str(), got.media_type.as_str(), &got.bytes),
        (image_digest.as_str(), OCI_MANIFEST, &image)
    );
    assert_eq!(remote.manifest(repo, &image_digest).await.unwrap().unwrap(), got);
    let head = remote.head_manifest(repo, "v1").await.unwrap().unwrap();
    assert_eq!(
        head,
        Descriptor { digest: image_digest.clone(), media_type: OCI_MANIFEST.into(), size: image.len() as u64 }
    );

    let index = Bytes::from(
        serde_json::to_vec(&json!({
            "schemaVersion": 2,
            "mediaType": OCI_INDEX,
            "manifests": [{"mediaType": OCI_MANIFEST, "digest": image_digest, "size": image.len(),
                           "platform": {"architecture": "amd64", "os": "linux"}}],
        }))
        .unwrap(),
    );
    let index_digest = digest(&index);
    remote.put_manifest(repo, "multi", OCI_INDEX, index.clone()).await.unwrap();
    let got = remote.manifest(repo, "multi").await.unwrap().unwrap();
    assert_eq!((got.digest.as_str(), got.media_type.as_str(), &got.bytes), (index_digest.as_str(), OCI_INDEX, &index));
    let mut tags = remote.tags(repo).await.unwrap();
    tags.sort();
    assert_eq!(tags, ["multi", "v1", "v2"]);

    // distribution 2.8 has no referrers API: the listing comes from the `sha256-<hex>` tag.
    assert_eq!(remote.referrers(repo, &image_digest).await.unwrap(), []);
    let signature = image_manifest(&remote, repo, "application/vnd.example.signature.v1+json").await;
    let signature_digest = digest(&signature);
    remote.put_manifest(repo, &signature_digest, OCI_MANIFEST, signature.clone()).await.unwrap();
    let referrers_index = json!({
        "schemaVersion": 2,
        "mediaType": OCI_INDEX,
        "manifests": [{"mediaType": OCI_MANIFEST, "digest": signature_digest, "size": signature.len(),
                       "artifactType": "application/vnd.example.signature.v1+json"}],
    });
    let referrers_tag = image_digest.replace(':', "-");
    remote
        .put_manifest(repo, &referrers_tag, OCI_INDEX, Bytes::from(serde_json::to_vec(&referrers_index).unwrap()))
        .await
        .unwrap();
    assert_eq!(
        remote.referrers(repo, &image_digest).await.unwrap(),
        [Descriptor { digest: signature_digest, media_type: OCI_MANIFEST.into(), size: signature.len() as u64 }]
    );

    assert!(remote.delete_manifest(repo, &index_digest).await.unwrap());
    assert!(!remote.delete_manifest(repo, &index_digest).await.unwrap());
    assert_eq!(remote.manifest(repo, &index_digest).await.unwrap(), None);
    assert_eq!(remote.manifest(repo, "multi").await.unwrap(), None);
    assert!(remote.manifest(repo, "v1").await.unwrap().is_some());
}

#[tokio::test]
async fn catalog_follows_pages() {
    // With at most 3 entries a page, distribution refuses `n=1000`; the client falls back to the
    // registry's page size and follows the Link headers.
    let registry = PeerRegistry::start_with(|_| "catalog:\n  maxentries: 3\n".into());
    let remote = registry.remote(None);
    let mut expected: Vec<String> = (0..8).map(|i| format!("many/repo{i}")).collect();
    for repo in &expected {
        push_small(&remote, repo, repo.as_bytes()).await;
    }
    let mut repos = remote.catalog().await.unwrap();
    repos.sort();
    expected.sort();
    assert_eq!(repos, expected);
}

#[tokio::test]
async fn basic_credentials() {
    let registry = with_htpasswd();

    let anonymous = registry.remote(None);
    assert!(matches!(anonymous.ping().await, Err(RemoteError::Unauthorized(_))));
    assert!(matches!(anonymous.tags("private/app").await, Err(RemoteError::Unauthorized(_))));
    let wrong = registry.remote(credential("wrong"));
    assert!(matches!(wrong.ping().await, Err(RemoteError::Unauthorized(_))));

    let remote = registry.remote(credential(PASSWORD));
    remote.ping().await.unwrap();
    let data = random(CHUNK_SIZE as usize + 1000);
    let d = digest(&data);
    remote.push_blob("private/app", &d, data.len() as u64, opener(data.clone())).await.unwrap();
    assert_eq!(read_blob(&remote, "private/app", &d, 0).await.1, data);
    assert_eq!(remote.catalog().await.unwrap(), ["private/app"]);
}

#[tokio::test]
async fn throttle_limits_a_blob_download() {
    let registry = PeerRegistry::start();
    let remote = registry.remote(None);
    let data = random(MIB);
    let d = digest(&data);
    remote.push_blob("slow/blob", &d, data.len() as u64, opener(data.clone())).await.unwrap();

    let blob = remote.blob("slow/blob", &d, 0).await.unwrap().unwrap();
    let started = Instant::now();
    let mut stream = throttle(blob.stream, 512 * 1024);
    let mut received = Vec::new();
    while let Some(bytes) = stream.next().await {
        received.extend_from_slice(&bytes.unwrap());
    }
    let elapsed = started.elapsed();
    assert_eq!(received, data);
    // 1 MiB at 512 KiB/s: 2 s, the bucket starting empty.
    assert!(elapsed >= Duration::from_millis(1500) && elapsed < Duration::from_secs(5), "{elapsed:?}");
}
