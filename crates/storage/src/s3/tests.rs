//! Tests of the S3 backend against a real S3-compatible server (`berth_testkit::s3`: Garage).

use std::io;
use std::time::{Duration, Instant};

use futures_util::stream;

use super::*;
use crate::{Backend, BlobStore};

const MIB: usize = 1024 * 1024;

/// The test bucket under a fresh `root_directory`, so tests share it without seeing each other's
/// keys. Fails the test, saying why, when no S3 test server can be had.
fn test_config() -> S3Config {
    let s = berth_testkit::s3::server();
    S3Config {
        endpoint: s.endpoint.clone(),
        bucket: s.bucket.clone(),
        region: s.region.clone(),
        access_key: s.access_key.clone(),
        secret_key: s.secret_key.clone(),
        root_directory: berth_testkit::s3::fresh_root(),
    }
}

/// Deterministic bytes that differ per `seed`, so a mix-up of two bodies cannot go unnoticed.
fn data(seed: u8, len: usize) -> Vec<u8> {
    (0..len).map(|i| ((i as u64).wrapping_mul(2_654_435_761) >> 13) as u8 ^ seed).collect()
}

/// `bytes` as a request body arriving in 64 KiB chunks, as from the network.
fn body(bytes: &[u8]) -> impl Stream<Item = Result<Bytes, io::Error>> + Unpin + Send + use<> {
    stream::iter(bytes.chunks(64 * 1024).map(|c| Ok(Bytes::copy_from_slice(c))).collect::<Vec<_>>())
}

/// What the caller stores in its database and reads back for the next request.
fn persisted(p: &UploadProgress) -> UploadProgress {
    UploadProgress {
        length: p.length,
        hash: HashState::from_bytes(&p.hash.to_bytes()).unwrap(),
        backend: p.backend.clone(),
    }
}

fn inner(store: &BlobStore) -> &S3Store {
    match &store.0 {
        Backend::S3(s) => s,
        Backend::Filesystem(_) => unreachable!("an S3 store"),
    }
}

/// Every object of upload `id` in the bucket.
async fn upload_objects(store: &BlobStore, id: &UploadId) -> Vec<String> {
    let s = inner(store);
    let mut keys: Vec<String> =
        s.store.list(Some(&s.upload_dir(id))).map_ok(|m| m.location.to_string()).try_collect().await.unwrap();
    keys.sort();
    keys
}

async fn read(store: &BlobStore, digest: &Digest, start: u64, len: u64) -> Vec<u8> {
    let chunks: Vec<Bytes> = store.read_blob(digest, start, len).await.unwrap().try_collect().await.unwrap();
    chunks.concat()
}

async fn open(config: &S3Config) -> BlobStore {
    BlobStore::open_s3(config).await.unwrap()
}

#[tokio::test]
async fn chunked_upload_resumes_on_another_instance_and_commits() {
    let config = test_config();
    let first = open(&config).await;
    assert_eq!(first.kind(), "s3");
    first.check().await.unwrap();
    let id = UploadId::new();
    let p = first.create_upload(&id).await.unwrap();

    let tiny = data(1, 1000);
    let big = data(2, 2 * PART_SIZE as usize + 5000);
    let last = data(3, 300);
    let a = first.append(&id, p, body(&tiny)).await.unwrap();
    assert_eq!((a.received, a.progress.length), (1000, 1000));
    let b = first.append(&id, persisted(&a.progress), body(&big)).await.unwrap();
    assert_eq!(b.progress.length, 1000 + big.len() as u64);

    // The next request reaches another instance, which knows the session only from the database.
    let second = open(&config).await;
    let c = second.append(&id, persisted(&b.progress), body(&last)).await.unwrap();
    assert_eq!(c.received, 300);
    // An empty request changes nothing.
    let c2 = second.append(&id, persisted(&c.progress), body(&[])).await.unwrap();
    assert_eq!((c2.received, c2.progress.length, &c2.progress.backend), (0, c.progress.length, &c.progress.backend));

    let whole = [tiny, big, last].concat();
    let digest = Digest::sha256_of(&whole);
    assert!(!second.blob_exists(&digest).await.unwrap());
    assert_eq!(second.commit(&id, persisted(&c2.progress), &digest).await.unwrap(), whole.len() as u64);
    assert!(first.blob_exists(&digest).await.unwrap());
    assert!(upload_objects(&first, &id).await.is_empty(), "session objects are removed");

    // Ranges, across part boundaries and at the end.
    let size = whole.len() as u64;
    assert_eq!(read(&first, &digest, 0, size).await, whole);
    let boundary = PART_SIZE - 10;
    assert_eq!(read(&first, &digest, boundary, 20).await, &whole[boundary as usize..boundary as usize + 20]);
    assert_eq!(read(&first, &digest, size - 1, 1).await, &whole[whole.len() - 1..]);
    assert_eq!(read(&first, &digest, 5, 0).await, b"");
}

#[tokio::test]
async fn small_chunks_roll_over_into_parts() {
    let store = open(&test_config()).await;
    let id = UploadId::new();
    let mut progress = store.create_upload(&id).await.unwrap();
    // 3 MiB at a time: the tail grows past a part, is cut, and carries the remainder.
    let chunks: Vec<Vec<u8>> = (0..4).map(|i| data(10 + i, 3 * MIB)).collect();
    for chunk in &chunks {
        progress = persisted(&store.append(&id, progress, body(chunk)).await.unwrap().progress);
    }
    let state = UploadState::decode(&progress.backend, progress.length, PART_SIZE).unwrap();
    assert_eq!((state.part_count(), state.tail.as_ref().unwrap().size), (1, 12 * MIB as u64 - PART_SIZE));
    let whole = chunks.concat();
    let digest = Digest::sha256_of(&whole);
    store.commit(&id, progress, &digest).await.unwrap();
    assert_eq!(read(&store, &digest, 0, whole.len() as u64).await, whole);
}

/// A session of more parts than one object may have is assembled through group objects; the
/// limit is lowered to 3 here, so that 5 parts and a tail make three groups: 2 parts, 2 parts,
/// and 1 part with the tail. Every byte arrives in order, and the groups go with the session.
#[tokio::test]
async fn more_parts_than_an_object_takes_are_assembled_in_groups() {
    let store = open(&test_config()).await;
    let id = UploadId::new();
    let p = store.create_upload(&id).await.unwrap();
    let whole = data(14, 5 * PART_SIZE as usize + 4321);
    let appended = store.append(&id, p, body(&whole)).await.unwrap().progress;
    let state = UploadState::decode(&appended.backend, appended.length, PART_SIZE).unwrap();
    assert_eq!(state.part_count(), 5);
    let digest = Digest::sha256_of(&whole);
    let s3 = inner(&store);
    let blob = s3.path(&blob_key(&digest));
    s3.assemble(&id, &state, &blob, 3).await.unwrap();
    let groups = upload_objects(&store, &id).await.into_iter().filter(|k| k.contains("/group-")).count();
    assert_eq!(groups, 3);
    assert_eq!(read(&store, &digest, 0, whole.len() as u64).await, whole);
    let boundary = 2 * PART_SIZE - 7;
    assert_eq!(read(&store, &digest, boundary, 14).await, &whole[boundary as usize..boundary as usize + 14]);
    s3.remove_upload(&id).await.unwrap();
    assert!(upload_objects(&store, &id).await.is_empty());
}

#[tokio::test]
async fn digest_mismatch_leaves_no_blob_and_no_upload_objects() {
    let store = open(&test_config()).await;
    let id = UploadId::new();
    let p = store.create_upload(&id).await.unwrap();
    let a = store.append(&id, p, body(&data(4, PART_SIZE as usize + 10))).await.unwrap();
    assert_eq!(upload_objects(&store, &id).await.len(), 2, "one part and a tail");
    let wrong = Digest::sha256_of(b"something else");
    let err = store.commit(&id, a.progress, &wrong).await.unwrap_err();
    assert!(matches!(err, StorageError::DigestMismatch { .. }), "{err}");
    assert!(!store.blob_exists(&wrong).await.unwrap());
    assert!(upload_objects(&store, &id).await.is_empty());
    assert!(matches!(store.read_blob(&wrong, 0, 1).await, Err(StorageError::BlobMissing(_))));
}

#[tokio::test]
async fn zero_length_blob_and_dedupe() {
    let store = open(&test_config()).await;
    let empty = Digest::sha256_of(b"");
    for _ in 0..2 {
        let id = UploadId::new();
        let p = store.create_upload(&id).await.unwrap();
        let a = store.append(&id, p, body(&[])).await.unwrap();
        assert_eq!(store.commit(&id, a.progress, &empty).await.unwrap(), 0);
    }
    assert!(store.blob_exists(&empty).await.unwrap());
    assert_eq!(read(&store, &empty, 0, 0).await, b"");

    // The same non-empty blob pushed twice, as monolithic uploads: the second stores nothing new.
    let bytes = data(5, 4000);
    let digest = Digest::sha256_of(&bytes);
    for _ in 0..2 {
        let id = UploadId::new();
        let p = store.create_upload(&id).await.unwrap();
        let a = store.append(&id, p, body(&bytes)).await.unwrap();
        assert_eq!(store.commit(&id, a.progress, &digest).await.unwrap(), 4000);
        assert!(upload_objects(&store, &id).await.is_empty());
    }
    assert_eq!(read(&store, &digest, 1000, 10).await, &bytes[1000..1010]);
}

#[tokio::test]
async fn presigned_url_serves_the_blob() {
    let store = open(&test_config()).await;
    let bytes = data(6, 70_000);
    let digest = Digest::sha256_of(&bytes);
    let id = UploadId::new();
    let p = store.create_upload(&id).await.unwrap();
    let a = store.append(&id, p, body(&bytes)).await.unwrap();
    store.commit(&id, a.progress, &digest).await.unwrap();

    let url = store.presigned_blob_url(&digest, Duration::from_secs(300)).await.unwrap().unwrap();
    // A plain GET, no credentials: what a client does after a 307.
    let response = reqwest::get(&url).await.unwrap();
    assert_eq!(response.status(), 200, "{url}");
    assert_eq!(response.bytes().await.unwrap(), bytes);
}

#[tokio::test]
async fn loser_of_a_race_does_not_corrupt_the_winner() {
    let config = test_config();
    let (one, two) = (open(&config).await, open(&config).await);
    let id = UploadId::new();
    let p = one.create_upload(&id).await.unwrap();
    let start = data(7, 2 * MIB);
    let recorded = one.append(&id, p, body(&start)).await.unwrap().progress;

    // Two instances append different bytes from the same recorded state, each more than a part
    // (so both write part 0 and a tail). The winner finishes first and is recorded; the loser
    // writes afterwards, when it could do the most damage, and is never recorded.
    let winner_bytes = data(8, PART_SIZE as usize + 3 * MIB);
    let loser_bytes = data(9, PART_SIZE as usize + 4 * MIB);
    let winner = one.append(&id, persisted(&recorded), body(&winner_bytes)).await.unwrap();
    let loser = two.append(&id, persisted(&recorded), body(&loser_bytes)).await.unwrap();
    assert_ne!(winner.progress.backend, loser.progress.backend);

    // And a later request continues from the winner's state.
    let more = data(10, 1000);
    let next = two.append(&id, persisted(&winner.progress), body(&more)).await.unwrap();
    let whole = [start, winner_bytes, more].concat();
    let digest = Digest::sha256_of(&whole);
    two.commit(&id, next.progress, &digest).await.unwrap();
    assert_eq!(read(&one, &digest, 0, whole.len() as u64).await, whole);
    assert!(upload_objects(&one, &id).await.is_empty(), "the loser's objects go with the session");
}

#[tokio::test]
async fn an_interrupted_append_changes_nothing() {
    let store = open(&test_config()).await;
    let id = UploadId::new();
    let p = store.create_upload(&id).await.unwrap();
    let start = data(12, 1000);
    let recorded = store.append(&id, p, body(&start)).await.unwrap().progress;
    let before = upload_objects(&store, &id).await;

    // The client goes away after more than a part: the request fails, its objects are removed.
    let partial = data(13, PART_SIZE as usize + MIB);
    let broken = body(&partial).chain(stream::iter([Err(io::Error::other("connection reset"))]));
    let err = store.append(&id, persisted(&recorded), broken).await.unwrap_err();
    assert!(matches!(err, StorageError::Body(_)), "{err}");
    assert_eq!(upload_objects(&store, &id).await, before);

    // The client resumes from the recorded length.
    let rest = data(14, 2000);
    let a = store.append(&id, persisted(&recorded), body(&rest)).await.unwrap();
    let whole = [start, rest].concat();
    let digest = Digest::sha256_of(&whole);
    store.commit(&id, a.progress, &digest).await.unwrap();
    assert_eq!(read(&store, &digest, 0, whole.len() as u64).await, whole);
}

#[tokio::test]
async fn deleted_upload_is_missing_and_delete_is_idempotent() {
    let store = open(&test_config()).await;
    let id = UploadId::new();
    let p = store.create_upload(&id).await.unwrap();
    let a = store.append(&id, p, body(&data(11, 1000))).await.unwrap();
    store.delete_upload(&id).await.unwrap();
    store.delete_upload(&id).await.unwrap();
    assert!(upload_objects(&store, &id).await.is_empty());
    let err = store.append(&id, persisted(&a.progress), body(b"more")).await.unwrap_err();
    assert!(matches!(err, StorageError::UploadMissing), "{err}");
    let digest = Digest::sha256_of(&data(11, 1000));
    let err = store.commit(&id, a.progress, &digest).await.unwrap_err();
    assert!(matches!(err, StorageError::UploadMissing), "{err}");
    assert!(!store.blob_exists(&digest).await.unwrap());
}

#[tokio::test]
async fn bad_settings_fail_at_open_with_a_clear_message() {
    let good = test_config();
    let message = |config: S3Config| async move {
        let started = Instant::now();
        let err = BlobStore::open_s3(&config).await.unwrap_err().to_string();
        assert!(started.elapsed() < Duration::from_secs(30), "took {:?}: {err}", started.elapsed());
        err
    };

    // Nothing listens on port 1.
    let err = message(S3Config { endpoint: "http://127.0.0.1:1".into(), ..good.clone() }).await;
    assert!(err.contains("http://127.0.0.1:1") && err.contains("not usable"), "{err}");

    let err = message(S3Config { bucket: "berth-no-such-bucket".into(), ..good.clone() }).await;
    assert!(err.contains("berth-no-such-bucket") && err.contains("not usable"), "{err}");

    let err = message(S3Config { secret_key: "wrong".into(), ..good.clone() }).await;
    assert!(err.contains("not usable"), "{err}");

    let err = message(S3Config { endpoint: "127.0.0.1:9000".into(), ..good.clone() }).await;
    assert!(err.contains("must start with http://"), "{err}");

    let err = message(S3Config { root_directory: "a/../b".into(), ..good.clone() }).await;
    assert!(err.contains("root_directory"), "{err}");
}

#[test]
fn root_directory_becomes_a_safe_prefix() {
    assert_eq!(root_prefix("").as_deref(), Some(""));
    assert_eq!(root_prefix("/").as_deref(), Some(""));
    assert_eq!(root_prefix("/registry/prod/").as_deref(), Some("registry/prod/"));
    assert_eq!(root_prefix("a.b-c_d").as_deref(), Some("a.b-c_d/"));
    for bad in ["a//b", "a/./b", "..", "a b", "a?b", "é"] {
        assert_eq!(root_prefix(bad), None, "{bad}");
    }
}

#[test]
fn a_bad_aws_ca_bundle_is_ignored() {
    assert!(extra_root_certificates(None).is_empty());
    assert!(extra_root_certificates(Some("".into())).is_empty());
    assert!(extra_root_certificates(Some("/nonexistent/berth/ca.pem".into())).is_empty());
    let dir = tempfile::tempdir().unwrap();
    let garbage = dir.path().join("garbage.pem");
    std::fs::write(&garbage, "not a certificate").unwrap();
    assert!(extra_root_certificates(Some(garbage.into())).is_empty());
}

#[test]
fn a_good_aws_ca_bundle_is_used() {
    let bundle = "/etc/ssl/certs/ca-certificates.crt";
    assert!(std::path::Path::new(bundle).exists(), "the test needs the system CA bundle at {bundle}");
    assert!(!extra_root_certificates(Some(bundle.into())).is_empty());
}
