//! Berth with its blobs in a real S3-compatible server (Garage, `scripts/s3-test-server`) and its
//! metadata in PostgreSQL: real clients push and pull, an upload session continues after the
//! instance that started it died, downloads can be redirected to the bucket, and bad settings
//! stop Berth at start with a clear message.

use crate::support;
use crate::support::clients::{Clients, require_tool};
use crate::support::registry::*;
use crate::support::{ADMIN, Berth, TestDatabase, layout, random_bytes, run, sha256_digest};
use reqwest::StatusCode;

fn with_digest(url: &str, digest: &str) -> String {
    let separator = if url.contains('?') { '&' } else { '?' };
    format!("{url}{separator}digest={digest}")
}

/// A server on S3 and a fresh PostgreSQL database.
fn start_on_s3(extra: &[(&str, &str)]) -> (Berth, TestDatabase) {
    let db = TestDatabase::create();
    let mut builder = Berth::builder().with_s3().with_env("BERTH_DATABASE_URL", &db.url());
    for (k, v) in extra {
        builder = builder.with_env(k, v);
    }
    (builder.start(), db)
}

#[test]
fn skopeo_round_trip_with_large_layers() {
    require_tool("skopeo");
    let (berth, _db) = start_on_s3(&[]);
    let host = berth.host();
    berth.create_project("proj", false);
    let clients = Clients::with_creds(ADMIN);
    // Layers larger than one multipart part, so chunked uploads span several parts.
    let image = layout::write_image(&clients.path("src"), "v1", 2, 12 * 1024 * 1024 + 12_345, 7);
    clients.push_layout(&image, &host, "proj/big:v1");
    let back = clients.path("back");
    clients.pull_layout(&host, "proj/big:v1", &back, "v1");
    // Every blob hashes to its name: config, layers and the manifest itself.
    assert_eq!(layout::verify_blobs(&back), image.blob_digests().len() + 1);
    for digest in image.blob_digests() {
        assert_eq!(
            layout::read_blob(&back, &digest),
            layout::read_blob(&clients.path("src"), &digest),
            "blob {digest} changed on the way through S3"
        );
    }
    // Copy inside the registry: mounts, no new bytes.
    run(clients.skopeo("copy").args([
        "--quiet",
        "--src-tls-verify=false",
        "--dest-tls-verify=false",
        &format!("docker://{host}/proj/big:v1"),
        &format!("docker://{host}/proj/copy:v1"),
    ]));
    let (raw, _) = clients.raw_manifest(&host, "proj/copy:v1");
    assert_eq!(raw, image.manifest);
}

#[tokio::test]
async fn chunked_upload_continues_after_a_crash_and_ranges_work() {
    let (mut berth, _db) = start_on_s3(&[]);
    berth.create_project("p", false);
    let r = Registry::with_credentials(berth.url(""), Some(ADMIN));
    let data = random_bytes(14 * 1024 * 1024 + 777, 3);
    let digest = sha256_digest(&data);
    let (first, rest) = data.split_at(9 * 1024 * 1024 + 5);
    let location = r.start_upload("p/app").await;
    let patch = r
        .http
        .patch(&location)
        .header("content-range", format!("0-{}", first.len() - 1))
        .body(first.to_vec())
        .send()
        .await
        .unwrap();
    assert_eq!(patch.status(), StatusCode::ACCEPTED);
    let location = r.location(&patch);

    // The instance dies; its successor continues the session from the database and the bucket.
    berth.restart();
    // A new client: the old one's pooled connections died with the instance.
    let r = Registry::with_credentials(berth.url(""), Some(ADMIN));
    let status = r.http.get(&location).send().await.unwrap();
    assert_eq!(status.status(), StatusCode::NO_CONTENT);
    assert_eq!(status.headers()["range"], format!("0-{}", first.len() - 1));
    let put = r.http.put(with_digest(&location, &digest)).body(rest.to_vec()).send().await.unwrap();
    assert_eq!(put.status(), StatusCode::CREATED, "{}", put.text().await.unwrap());

    let whole = r.get(&format!("/v2/p/app/blobs/{digest}")).await;
    assert_eq!(whole.status(), StatusCode::OK);
    assert_eq!(whole.bytes().await.unwrap().as_ref(), data.as_slice());
    let ranged = r
        .http
        .get(r.url(&format!("/v2/p/app/blobs/{digest}")))
        .header("range", "bytes=5000000-5000099")
        .send()
        .await
        .unwrap();
    assert_eq!(ranged.status(), StatusCode::PARTIAL_CONTENT);
    assert_eq!(ranged.bytes().await.unwrap().as_ref(), &data[5_000_000..5_000_100]);

    // A wrong digest ends the session and leaves no blob.
    let location = r.start_upload("p/app").await;
    let bad = sha256_digest(b"something else");
    let put = r.http.put(with_digest(&location, &bad)).body("x").send().await.unwrap();
    expect_error(put, StatusCode::BAD_REQUEST, "DIGEST_INVALID").await;
    expect_error(r.get(&format!("/v2/p/app/blobs/{bad}")).await, StatusCode::NOT_FOUND, "BLOB_UNKNOWN").await;
}

#[tokio::test]
async fn downloads_can_redirect_to_the_bucket() {
    let (berth, _db) = start_on_s3(&[("BERTH_STORAGE_REDIRECT", "true")]);
    berth.create_project("p", false);
    let r = Registry::with_credentials(berth.url(""), Some(ADMIN));
    let data = random_bytes(300_000, 4);
    let digest = r.push_blob("p/app", &data).await;
    let no_follow = reqwest::Client::builder().redirect(reqwest::redirect::Policy::none()).build().unwrap();
    let resp = no_follow
        .get(r.url(&format!("/v2/p/app/blobs/{digest}")))
        .basic_auth(ADMIN.0, Some(ADMIN.1))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), StatusCode::TEMPORARY_REDIRECT);
    let target = resp.headers()["location"].to_str().unwrap().to_owned();
    assert!(target.starts_with("http://127.0.0.1:"), "presigned URL on the test server: {target}");
    assert!(!target.contains(ADMIN.1), "no credential of the caller in the URL");
    // The presigned URL alone fetches the bytes, no credentials needed.
    let fetched = reqwest::get(&target).await.unwrap();
    assert_eq!(fetched.status(), StatusCode::OK);
    assert_eq!(fetched.bytes().await.unwrap().as_ref(), data.as_slice());
    // HEAD still answers from Berth, and a blob the caller may not read is not redirected.
    let head =
        no_follow.head(r.url(&format!("/v2/p/app/blobs/{digest}"))).basic_auth(ADMIN.0, Some(ADMIN.1)).send().await;
    assert_eq!(head.unwrap().status(), StatusCode::OK);
    let anonymous = no_follow.get(r.url(&format!("/v2/p/app/blobs/{digest}"))).send().await.unwrap();
    assert_eq!(anonymous.status(), StatusCode::UNAUTHORIZED);
}

#[test]
fn bad_s3_settings_stop_berth_at_start_with_a_clear_message() {
    let dir = tempfile::tempdir().unwrap();
    let mut env = support::s3::storage_env("x");
    for (k, v) in env.iter_mut() {
        if k == "BERTH_STORAGE_S3_BUCKET" {
            *v = "no-such-bucket-here".to_owned();
        }
        if k == "BERTH_STORAGE_S3_SECRET_KEY" {
            *v = "wrong-secret-1234".to_owned();
        }
    }
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_berth"))
        .arg("serve")
        .env_clear()
        .env("BERTH_DATA_VOLUME", dir.path())
        .env("BERTH_HTTP_ADDRESS", "127.0.0.1")
        .env("BERTH_HTTP_PORT", "0")
        .envs(env)
        .output()
        .unwrap();
    assert!(!out.status.success());
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("storage.s3") && stderr.contains("no-such-bucket-here"), "{stderr}");
    assert!(!stderr.contains("wrong-secret-1234"), "the secret key must not be printed: {stderr}");
}
