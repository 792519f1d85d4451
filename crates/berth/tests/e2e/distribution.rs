//! The OCI distribution spec v1.1 over HTTP against a real `berth serve`: every endpoint, and the
//! errors each bad input must produce without changing anything.

use crate::support::registry::*;
use crate::support::{TestApp, random_bytes, sha256_digest};
use reqwest::StatusCode;
use serde_json::{Value, json};

/// A server with projects `p` and `z`, and a client authenticated as admin.
async fn setup() -> (TestApp, Registry) {
    let berth = TestApp::start().await;
    berth.create_project("p", false).await;
    berth.create_project("z", false).await;
    let registry = Registry::new(berth.url(""));
    (berth, registry)
}

#[tokio::test]
async fn base_endpoint() {
    let (_b, r) = setup().await;
    let resp = r.get("/v2/").await;
    assert_eq!(resp.status(), StatusCode::OK);
    assert_eq!(resp.headers()["docker-distribution-api-version"], "registry/2.0");
    // Every response carries the API version, errors too.
    let resp = r.get("/v2/nope/tags/list").await;
    assert_eq!(resp.headers()["docker-distribution-api-version"], "registry/2.0");
    expect_error(resp, StatusCode::NOT_FOUND, "NAME_UNKNOWN").await;
}

#[tokio::test]
async fn monolithic_upload_then_get_head_range_delete() {
    let (_b, r) = setup().await;
    let data = random_bytes(100_000, 1);
    let digest = r.push_blob("p/app", &data).await;
    let path = format!("/v2/p/app/blobs/{digest}");

    let got = r.get(&path).await;
    assert_eq!(got.status(), StatusCode::OK);
    assert_eq!(got.headers()["docker-content-digest"], digest.as_str());
    assert_eq!(got.headers()["content-length"], "100000");
    assert_eq!(got.bytes().await.unwrap(), data);

    let head = r.http.head(r.url(&path)).send().await.unwrap();
    assert_eq!(head.status(), StatusCode::OK);
    assert_eq!(head.headers()["content-length"], "100000");
    assert_eq!(head.headers()["docker-content-digest"], digest.as_str());

    let part = r.http.get(r.url(&path)).header("range", "bytes=10-19").send().await.unwrap();
    assert_eq!(part.status(), StatusCode::PARTIAL_CONTENT);
    assert_eq!(part.headers()["content-range"], "bytes 10-19/100000");
    assert_eq!(part.bytes().await.unwrap(), &data[10..20]);

    let tail = r.http.get(r.url(&path)).header("range", "bytes=-5").send().await.unwrap();
    assert_eq!(tail.status(), StatusCode::PARTIAL_CONTENT);
    assert_eq!(tail.bytes().await.unwrap(), &data[data.len() - 5..]);

    let beyond = r.http.get(r.url(&path)).header("range", "bytes=100000-").send().await.unwrap();
    assert_eq!(beyond.status(), StatusCode::RANGE_NOT_SATISFIABLE);
    assert_eq!(beyond.headers()["content-range"], "bytes */100000");

    // The blob is visible only in the repository it was pushed to.
    expect_error(r.get(&format!("/v2/p/other/blobs/{digest}")).await, StatusCode::NOT_FOUND, "BLOB_UNKNOWN").await;

    let del = r.http.delete(r.url(&path)).send().await.unwrap();
    assert_eq!(del.status(), StatusCode::ACCEPTED);
    expect_error(r.get(&path).await, StatusCode::NOT_FOUND, "BLOB_UNKNOWN").await;
    let del = r.http.delete(r.url(&path)).send().await.unwrap();
    expect_error(del, StatusCode::NOT_FOUND, "BLOB_UNKNOWN").await;
}

/// Blobs leave in mapped chunks of 2 MiB, the first mapped before the headers go: whole, mixed
/// with a small blob on one kept-alive connection, and in ranges across chunk boundaries, they
/// must give exactly the blob's bytes.
#[tokio::test]
async fn blobs_of_several_chunks_come_back_whole_and_in_ranges() {
    let (_b, r) = setup().await;
    const MIB: usize = 1024 * 1024;
    let data = random_bytes(5 * MIB + 12_345, 31);
    let small = random_bytes(3_000, 32);
    let digest = r.push_blob("p/big", &data).await;
    let small_digest = r.push_blob("p/big", &small).await;
    let path = format!("/v2/p/big/blobs/{digest}");
    for _ in 0..2 {
        let got = r.get(&path).await;
        assert_eq!(got.status(), StatusCode::OK);
        assert_eq!(got.headers()["content-length"], data.len().to_string());
        assert_eq!(sha256_digest(&got.bytes().await.unwrap()), digest);
        let got = r.get(&format!("/v2/p/big/blobs/{small_digest}")).await;
        assert_eq!(got.bytes().await.unwrap(), small);
    }
    for (from, to) in [(2 * MIB - 10, 2 * MIB + 70_000), (4097, data.len() - 1), (MIB + 1, MIB + 99), (0, 65_535)] {
        let part = r.http.get(r.url(&path)).header("range", format!("bytes={from}-{to}")).send().await.unwrap();
        assert_eq!(part.status(), StatusCode::PARTIAL_CONTENT);
        assert_eq!(part.headers()["content-range"], format!("bytes {from}-{to}/{}", data.len()));
        assert!(part.bytes().await.unwrap() == data[from..=to], "bytes {from}-{to} differ");
    }
}

#[tokio::test]
async fn chunked_upload_with_status_out_of_order_and_final_chunk() {
    let (_b, r) = setup().await;
    let data = random_bytes(3 * 1024 * 1024 + 17, 2);
    let digest = sha256_digest(&data);
    let start = r.http.post(r.url("/v2/p/chunked/blobs/uploads/")).send().await.unwrap();
    assert_eq!(start.status(), StatusCode::ACCEPTED);
    assert_eq!(start.headers()["range"], "0-0");
    assert!(start.headers().contains_key("docker-upload-uuid"));
    let mut url = r.location(&start);

    let (a, rest) = data.split_at(1024 * 1024);
    let (b, c) = rest.split_at(2 * 1024 * 1024);
    let p = r
        .http
        .patch(&url)
        .header("content-type", "application/octet-stream")
        .header("content-range", format!("0-{}", a.len() - 1))
        .header("content-length", a.len())
        .body(a.to_vec())
        .send()
        .await
        .unwrap();
    assert_eq!(p.status(), StatusCode::ACCEPTED);
    assert_eq!(p.headers()["range"], format!("0-{}", a.len() - 1));
    url = r.location(&p);

    // A chunk that does not continue where the session is: 416, and nothing changes.
    let bad = r
        .http
        .patch(&url)
        .header("content-range", format!("{}-{}", a.len() + 10, a.len() + 19))
        .body(vec![0u8; 10])
        .send()
        .await
        .unwrap();
    assert_eq!(bad.status(), StatusCode::RANGE_NOT_SATISFIABLE);
    assert_eq!(bad.headers()["range"], format!("0-{}", a.len() - 1));
    let overlap = r.http.patch(&url).header("content-range", "0-9").body(vec![0u8; 10]).send().await.unwrap();
    assert_eq!(overlap.status(), StatusCode::RANGE_NOT_SATISFIABLE);

    let status = r.http.get(&url).send().await.unwrap();
    assert_eq!(status.status(), StatusCode::NO_CONTENT);
    assert_eq!(status.headers()["range"], format!("0-{}", a.len() - 1));
    assert!(status.headers().contains_key("location"));

    // Streamed chunk: no Content-Range.
    let p = r.http.patch(&url).body(b.to_vec()).send().await.unwrap();
    assert_eq!(p.status(), StatusCode::ACCEPTED);
    assert_eq!(p.headers()["range"], format!("0-{}", a.len() + b.len() - 1));
    url = r.location(&p);

    // Content-Range that lies about the chunk length.
    let liar = r
        .http
        .patch(&url)
        .header("content-range", format!("{}-{}", a.len() + b.len(), a.len() + b.len() + 99))
        .body(vec![1u8; 10])
        .send()
        .await
        .unwrap();
    assert_eq!(liar.status(), StatusCode::BAD_REQUEST);
    // A span of 2^64 bytes, one more than a length holds (fuzz/regressions/range/): malformed.
    let huge = r.http.patch(&url).header("content-range", format!("0-{}", u64::MAX)).body(vec![1u8; 10]);
    expect_error(huge.send().await.unwrap(), StatusCode::BAD_REQUEST, "BLOB_UPLOAD_INVALID").await;
    let status = r.http.get(&url).send().await.unwrap();
    assert_eq!(status.headers()["range"], format!("0-{}", a.len() + b.len() - 1));

    let sep = if url.contains('?') { '&' } else { '?' };
    let put = r.http.put(format!("{url}{sep}digest={digest}")).body(c.to_vec()).send().await.unwrap();
    assert_eq!(put.status(), StatusCode::CREATED);
    assert_eq!(put.headers()["docker-content-digest"], digest.as_str());
    let blob_url = r.location(&put);
    assert!(blob_url.ends_with(&format!("/v2/p/chunked/blobs/{digest}")));
    assert_eq!(r.http.get(&blob_url).send().await.unwrap().bytes().await.unwrap(), data);

    // The session is over.
    expect_error(r.http.get(&url).send().await.unwrap(), StatusCode::NOT_FOUND, "BLOB_UPLOAD_UNKNOWN").await;
}

#[tokio::test]
async fn put_without_final_body_and_digest_mismatch() {
    let (_b, r) = setup().await;
    let url = r.start_upload("p/x").await;
    let p = r.http.patch(&url).body(b"abc".to_vec()).send().await.unwrap();
    assert_eq!(p.status(), StatusCode::ACCEPTED);
    let url = r.location(&p);
    let put = r.http.put(format!("{url}?digest={}", sha256_digest(b"abc"))).send().await.unwrap();
    assert_eq!(put.status(), StatusCode::CREATED);

    let url = r.start_upload("p/x").await;
    r.http.patch(&url).body(b"hello".to_vec()).send().await.unwrap();
    let wrong = sha256_digest(b"hellO");
    let put = r.http.put(format!("{url}?digest={wrong}")).send().await.unwrap();
    expect_error(put, StatusCode::BAD_REQUEST, "DIGEST_INVALID").await;
    expect_error(r.get(&format!("/v2/p/x/blobs/{wrong}")).await, StatusCode::NOT_FOUND, "BLOB_UNKNOWN").await;
    expect_error(
        r.get(&format!("/v2/p/x/blobs/{}", sha256_digest(b"hello"))).await,
        StatusCode::NOT_FOUND,
        "BLOB_UNKNOWN",
    )
    .await;

    // Missing and malformed digests.
    let url = r.start_upload("p/x").await;
    expect_error(r.http.put(&url).send().await.unwrap(), StatusCode::BAD_REQUEST, "DIGEST_INVALID").await;
    let put = r.http.put(format!("{url}?digest=sha256:nothex")).send().await.unwrap();
    expect_error(put, StatusCode::BAD_REQUEST, "DIGEST_INVALID").await;
    let post = r.http.post(r.url("/v2/p/x/blobs/uploads/?digest=md5:abc")).body("x").send().await.unwrap();
    expect_error(post, StatusCode::BAD_REQUEST, "DIGEST_INVALID").await;
    // Monolithic upload whose body does not match.
    let post = r.http.post(r.url(&format!("/v2/p/x/blobs/uploads/?digest={wrong}"))).body("nope").send().await.unwrap();
    expect_error(post, StatusCode::BAD_REQUEST, "DIGEST_INVALID").await;
    expect_error(r.get(&format!("/v2/p/x/blobs/{wrong}")).await, StatusCode::NOT_FOUND, "BLOB_UNKNOWN").await;
}

#[tokio::test]
async fn cancel_and_unknown_sessions() {
    let (_b, r) = setup().await;
    let url = r.start_upload("p/a").await;
    r.http.patch(&url).body(b"abc".to_vec()).send().await.unwrap();
    let del = r.http.delete(&url).send().await.unwrap();
    assert_eq!(del.status(), StatusCode::NO_CONTENT);
    expect_error(r.http.get(&url).send().await.unwrap(), StatusCode::NOT_FOUND, "BLOB_UPLOAD_UNKNOWN").await;
    expect_error(r.http.delete(&url).send().await.unwrap(), StatusCode::NOT_FOUND, "BLOB_UPLOAD_UNKNOWN").await;
    let patch = r.http.patch(&url).body(b"x".to_vec()).send().await.unwrap();
    expect_error(patch, StatusCode::NOT_FOUND, "BLOB_UPLOAD_UNKNOWN").await;

    // Not a UUID, or a path-traversal attempt.
    for id in ["nope", "00000000-0000-0000-0000-000000000000"] {
        let resp = r.get(&format!("/v2/p/a/blobs/uploads/{id}")).await;
        assert_eq!(resp.status(), StatusCode::NOT_FOUND, "{id}");
    }
    // A session belongs to its repository.
    let url = r.start_upload("p/a").await;
    let other = url.replace("/v2/p/a/", "/v2/p/b/");
    r.start_upload("p/b").await;
    expect_error(r.http.get(&other).send().await.unwrap(), StatusCode::NOT_FOUND, "BLOB_UPLOAD_UNKNOWN").await;
    assert_eq!(r.http.get(&url).send().await.unwrap().status(), StatusCode::NO_CONTENT);
}

#[tokio::test]
async fn cross_repository_mount() {
    let (b, r) = setup().await;
    let data = random_bytes(5000, 3);
    let digest = r.push_blob("p/src", &data).await;
    let m = r.http.post(r.url(&format!("/v2/p/dst/blobs/uploads/?mount={digest}&from=p/src"))).send().await.unwrap();
    assert_eq!(m.status(), StatusCode::CREATED);
    assert_eq!(m.headers()["docker-content-digest"], digest.as_str());
    assert_eq!(r.get(&format!("/v2/p/dst/blobs/{digest}")).await.bytes().await.unwrap(), data);

    // Not in `from`: a normal upload session instead.
    let other = sha256_digest(b"absent");
    for from in ["p/src", "p/missing", "BAD NAME"] {
        let m =
            r.http.post(r.url(&format!("/v2/p/dst/blobs/uploads/?mount={other}&from={from}"))).send().await.unwrap();
        assert_eq!(m.status(), StatusCode::ACCEPTED, "from={from}");
        assert!(m.headers()["location"].to_str().unwrap().contains("/v2/p/dst/blobs/uploads/"));
    }
    // One copy of the bytes for both repositories.
    let hex = digest.strip_prefix("sha256:").unwrap();
    let path = b.data_dir().join("storage/blobs/sha256").join(&hex[..2]).join(hex);
    assert_eq!(std::fs::read(path).unwrap(), data);
}

#[tokio::test]
async fn manifests_by_tag_and_digest_served_byte_for_byte() {
    let (_b, r) = setup().await;
    let (manifest, digest) = r.push_image("p/img", "v1", &random_bytes(2000, 4)).await;

    for reference in ["v1", digest.as_str()] {
        let got = r.get(&format!("/v2/p/img/manifests/{reference}")).await;
        assert_eq!(got.status(), StatusCode::OK);
        assert_eq!(got.headers()["content-type"], OCI_MANIFEST);
        assert_eq!(got.headers()["docker-content-digest"], digest.as_str());
        assert_eq!(got.bytes().await.unwrap(), manifest);
        let head = r.http.head(r.url(&format!("/v2/p/img/manifests/{reference}"))).send().await.unwrap();
        assert_eq!(head.status(), StatusCode::OK);
        assert_eq!(head.headers()["content-length"], manifest.len().to_string().as_str());
    }
    // Whitespace and key order are the client's: a re-serialized manifest would change digest.
    let odd = format!(
        "{{\n  \"mediaType\": \"{OCI_MANIFEST}\",   \"schemaVersion\": 2,\n\"config\": {},\n\"layers\": []\n}}\n",
        serde_json::to_string(&serde_json::from_slice::<Value>(&manifest).unwrap()["config"]).unwrap()
    );
    let put = r.put_manifest("p/img", "odd", OCI_MANIFEST, odd.as_bytes()).await;
    assert_eq!(put.status(), StatusCode::CREATED);
    assert_eq!(put.headers()["docker-content-digest"], sha256_digest(odd.as_bytes()).as_str());
    assert_eq!(r.get("/v2/p/img/manifests/odd").await.bytes().await.unwrap(), odd.as_bytes());

    // By digest, with the right and the wrong digest.
    let put = r.put_manifest("p/img", &sha256_digest(odd.as_bytes()), OCI_MANIFEST, odd.as_bytes()).await;
    assert_eq!(put.status(), StatusCode::CREATED);
    let put = r.put_manifest("p/img", &digest, OCI_MANIFEST, odd.as_bytes()).await;
    expect_error(put, StatusCode::BAD_REQUEST, "DIGEST_INVALID").await;

    // Moving a tag.
    let put = r.put_manifest("p/img", "v1", OCI_MANIFEST, odd.as_bytes()).await;
    assert_eq!(put.status(), StatusCode::CREATED);
    assert_eq!(r.get("/v2/p/img/manifests/v1").await.bytes().await.unwrap(), odd.as_bytes());
    assert_eq!(r.get(&format!("/v2/p/img/manifests/{digest}")).await.status(), StatusCode::OK);

    expect_error(r.get("/v2/p/img/manifests/v2").await, StatusCode::NOT_FOUND, "MANIFEST_UNKNOWN").await;
    expect_error(r.get("/v2/p/none/manifests/v1").await, StatusCode::NOT_FOUND, "NAME_UNKNOWN").await;
    expect_error(r.get("/v2/p/img/manifests/sha256:abc").await, StatusCode::BAD_REQUEST, "DIGEST_INVALID").await;
    expect_error(r.get("/v2/p/img/manifests/-bad-tag").await, StatusCode::NOT_FOUND, "MANIFEST_UNKNOWN").await;
}

#[tokio::test]
async fn manifest_validation_errors_change_nothing() {
    let (_b, r) = setup().await;
    let layer = random_bytes(100, 5);
    let layer_digest = r.push_blob("p/v", &layer).await;
    let config = b"{}".to_vec();
    let config_digest = r.push_blob("p/v", &config).await;
    let manifest = |layer_digest: &str, layer_size: usize| {
        serde_json::to_vec(&json!({
            "schemaVersion": 2, "mediaType": OCI_MANIFEST,
            "config": {"mediaType": OCI_CONFIG, "digest": config_digest, "size": 2},
            "layers": [{"mediaType": OCI_LAYER, "digest": layer_digest, "size": layer_size}],
        }))
        .unwrap()
    };
    let unknown = sha256_digest(b"never pushed");
    let e = expect_error(
        r.put_manifest("p/v", "t", OCI_MANIFEST, &manifest(&unknown, 12)).await,
        StatusCode::BAD_REQUEST,
        "MANIFEST_BLOB_UNKNOWN",
    )
    .await;
    assert_eq!(e["detail"]["digest"], unknown.as_str());
    expect_error(
        r.put_manifest("p/v", "t", OCI_MANIFEST, &manifest(&layer_digest, 99)).await,
        StatusCode::BAD_REQUEST,
        "MANIFEST_INVALID",
    )
    .await;
    expect_error(
        r.put_manifest("p/v", "t", OCI_MANIFEST, b"{not json").await,
        StatusCode::BAD_REQUEST,
        "MANIFEST_INVALID",
    )
    .await;
    // Body and Content-Type disagree.
    expect_error(
        r.put_manifest("p/v", "t", OCI_INDEX, &manifest(&layer_digest, 100)).await,
        StatusCode::BAD_REQUEST,
        "MANIFEST_INVALID",
    )
    .await;
    // Docker schema1.
    let schema1 = br#"{"schemaVersion":1,"name":"p/v","tag":"t","architecture":"amd64","fsLayers":[],"history":[]}"#;
    let e = expect_error(
        r.put_manifest("p/v", "t", "application/vnd.docker.distribution.manifest.v1+prettyjws", schema1).await,
        StatusCode::BAD_REQUEST,
        "MANIFEST_INVALID",
    )
    .await;
    assert!(e["message"].as_str().unwrap().contains("schema1"));
    // Oversize: 413 before anything is stored.
    let mut big = manifest(&layer_digest, 100);
    big.truncate(big.len() - 1);
    big.extend_from_slice(format!(",\"annotations\":{{\"pad\":\"{}\"}}}}", "x".repeat(4 * 1024 * 1024)).as_bytes());
    expect_error(r.put_manifest("p/v", "t", OCI_MANIFEST, &big).await, StatusCode::PAYLOAD_TOO_LARGE, "SIZE_INVALID")
        .await;
    // Bad tag, bad name.
    expect_error(
        r.put_manifest("p/v", "bad:tag!", OCI_MANIFEST, &manifest(&layer_digest, 100)).await,
        StatusCode::BAD_REQUEST,
        "DIGEST_INVALID",
    )
    .await;
    expect_error(
        r.put_manifest("p/v", ".bad", OCI_MANIFEST, &manifest(&layer_digest, 100)).await,
        StatusCode::BAD_REQUEST,
        "MANIFEST_INVALID",
    )
    .await;
    expect_error(
        r.put_manifest("P/V", "t", OCI_MANIFEST, &manifest(&layer_digest, 100)).await,
        StatusCode::BAD_REQUEST,
        "NAME_INVALID",
    )
    .await;
    // None of that stored anything.
    let tags: Value = r.get("/v2/p/v/tags/list").await.json().await.unwrap();
    assert_eq!(tags["tags"], json!([]));
    // The valid one goes through.
    let ok = r.put_manifest("p/v", "t", OCI_MANIFEST, &manifest(&layer_digest, 100)).await;
    assert_eq!(ok.status(), StatusCode::CREATED);
}

#[tokio::test]
async fn index_and_docker_types() {
    let (_b, r) = setup().await;
    let (amd, amd_digest) = r.push_image("p/multi", "amd", &random_bytes(300, 6)).await;
    let index = |children: &[(&str, usize)], media: &str, child_media: &str| {
        let manifests: Vec<Value> = children
            .iter()
            .map(|(d, s)| json!({"mediaType": child_media, "digest": d, "size": s, "platform": {"os": "linux", "architecture": "amd64"}}))
            .collect();
        serde_json::to_vec(&json!({"schemaVersion": 2, "mediaType": media, "manifests": manifests})).unwrap()
    };
    let missing = sha256_digest(b"no such manifest");
    let bad = index(&[(&amd_digest, amd.len()), (&missing, 10)], OCI_INDEX, OCI_MANIFEST);
    expect_error(
        r.put_manifest("p/multi", "all", OCI_INDEX, &bad).await,
        StatusCode::BAD_REQUEST,
        "MANIFEST_BLOB_UNKNOWN",
    )
    .await;
    let good = index(&[(&amd_digest, amd.len())], OCI_INDEX, OCI_MANIFEST);
    assert_eq!(r.put_manifest("p/multi", "all", OCI_INDEX, &good).await.status(), StatusCode::CREATED);
    let got = r.get("/v2/p/multi/manifests/all").await;
    assert_eq!(got.headers()["content-type"], OCI_INDEX);

    // Docker schema2 manifest and manifest list.
    const D2: &str = "application/vnd.docker.distribution.manifest.v2+json";
    const DL: &str = "application/vnd.docker.distribution.manifest.list.v2+json";
    let layer = random_bytes(50, 7);
    let ld = r.push_blob("p/docker", &layer).await;
    let cfg = br#"{"architecture":"amd64","os":"linux"}"#;
    let cd = r.push_blob("p/docker", cfg).await;
    let m = serde_json::to_vec(&json!({
        "schemaVersion": 2, "mediaType": D2,
        "config": {"mediaType": "application/vnd.docker.container.image.v1+json", "digest": cd, "size": cfg.len()},
        "layers": [{"mediaType": "application/vnd.docker.image.rootfs.diff.tar.gzip", "digest": ld, "size": layer.len()}],
    }))
    .unwrap();
    assert_eq!(r.put_manifest("p/docker", "v2", D2, &m).await.status(), StatusCode::CREATED);
    assert_eq!(r.get("/v2/p/docker/manifests/v2").await.headers()["content-type"], D2);
    let list = index(&[(&sha256_digest(&m), m.len())], DL, D2);
    assert_eq!(r.put_manifest("p/docker", "list", DL, &list).await.status(), StatusCode::CREATED);
    assert_eq!(r.get("/v2/p/docker/manifests/list").await.headers()["content-type"], DL);
}

#[tokio::test]
async fn tags_and_catalog_paginate_with_link() {
    let (_b, r) = setup().await;
    let layer = random_bytes(64, 8);
    for tag in ["b", "a", "e", "c", "d"] {
        r.push_image("p/paged", tag, &layer).await;
    }
    r.push_image("p/another", "x", &layer).await;
    r.push_image("z/last", "x", &layer).await;
    // A repository with only an unfinished upload is not listed.
    r.start_upload("p/empty").await;

    let all: Value = r.get("/v2/p/paged/tags/list").await.json().await.unwrap();
    assert_eq!(all, json!({"name": "p/paged", "tags": ["a", "b", "c", "d", "e"]}));

    let page = r.get("/v2/p/paged/tags/list?n=2").await;
    assert_eq!(page.headers()["link"], "</v2/p/paged/tags/list?n=2&last=b>; rel=\"next\"");
    assert_eq!(page.json::<Value>().await.unwrap()["tags"], json!(["a", "b"]));
    let page = r.get("/v2/p/paged/tags/list?n=2&last=b").await;
    assert!(page.headers().contains_key("link"));
    assert_eq!(page.json::<Value>().await.unwrap()["tags"], json!(["c", "d"]));
    let page = r.get("/v2/p/paged/tags/list?n=2&last=d").await;
    assert!(!page.headers().contains_key("link"));
    assert_eq!(page.json::<Value>().await.unwrap()["tags"], json!(["e"]));
    let page = r.get("/v2/p/paged/tags/list?n=0").await;
    assert_eq!(page.json::<Value>().await.unwrap()["tags"], json!([]));
    expect_error(r.get("/v2/p/paged/tags/list?n=-1").await, StatusCode::BAD_REQUEST, "UNSUPPORTED").await;
    expect_error(r.get("/v2/p/paged/tags/list?n=x").await, StatusCode::BAD_REQUEST, "UNSUPPORTED").await;

    let cat: Value = r.get("/v2/_catalog").await.json().await.unwrap();
    assert_eq!(cat["repositories"], json!(["p/another", "p/paged", "z/last"]));
    let page = r.get("/v2/_catalog?n=1").await;
    assert_eq!(page.headers()["link"], "</v2/_catalog?n=1&last=p%2Fanother>; rel=\"next\"");
    let page = r.get("/v2/_catalog?n=1&last=p%2Fanother").await;
    assert_eq!(page.json::<Value>().await.unwrap()["repositories"], json!(["p/paged"]));
}

#[tokio::test]
async fn referrers_with_subject_and_artifact_type_filter() {
    let (_b, r) = setup().await;
    let (subject, subject_digest) = r.push_image("p/ref", "v1", &random_bytes(100, 9)).await;
    let empty = r.push_blob("p/ref", b"{}").await;
    let payload = r.push_blob("p/ref", b"signature bytes").await;
    let artifact = |artifact_type: &str| {
        serde_json::to_vec(&json!({
            "schemaVersion": 2, "mediaType": OCI_MANIFEST, "artifactType": artifact_type,
            "config": {"mediaType": "application/vnd.oci.empty.v1+json", "digest": empty, "size": 2},
            "layers": [{"mediaType": "application/octet-stream", "digest": payload, "size": 15}],
            "subject": {"mediaType": OCI_MANIFEST, "digest": subject_digest, "size": subject.len()},
            "annotations": {"org.example.kind": artifact_type},
        }))
        .unwrap()
    };
    let sig = artifact("application/vnd.example.signature");
    let sbom = artifact("application/vnd.example.sbom");
    for body in [&sig, &sbom] {
        let put = r.put_manifest("p/ref", &sha256_digest(body), OCI_MANIFEST, body).await;
        assert_eq!(put.status(), StatusCode::CREATED);
        assert_eq!(put.headers()["oci-subject"], subject_digest.as_str());
    }
    let list = r.get(&format!("/v2/p/ref/referrers/{subject_digest}")).await;
    assert_eq!(list.status(), StatusCode::OK);
    assert_eq!(list.headers()["content-type"], OCI_INDEX);
    assert!(!list.headers().contains_key("oci-filters-applied"));
    let index: Value = list.json().await.unwrap();
    assert_eq!(index["schemaVersion"], 2);
    let found = index["manifests"].as_array().unwrap();
    assert_eq!(found.len(), 2);
    let sig_entry = found.iter().find(|d| d["digest"] == sha256_digest(&sig).as_str()).unwrap();
    assert_eq!(sig_entry["artifactType"], "application/vnd.example.signature");
    assert_eq!(sig_entry["size"], sig.len());
    assert_eq!(sig_entry["mediaType"], OCI_MANIFEST);
    assert_eq!(sig_entry["annotations"]["org.example.kind"], "application/vnd.example.signature");

    let filtered =
        r.get(&format!("/v2/p/ref/referrers/{subject_digest}?artifactType=application/vnd.example.sbom")).await;
    assert_eq!(filtered.headers()["oci-filters-applied"], "artifactType");
    let index: Value = filtered.json().await.unwrap();
    assert_eq!(index["manifests"].as_array().unwrap().len(), 1);
    assert_eq!(index["manifests"][0]["digest"], sha256_digest(&sbom).as_str());

    // Unknown subject: an empty index, not 404. Malformed digest: 400.
    let none: Value = r.get(&format!("/v2/p/ref/referrers/{}", sha256_digest(b"x"))).await.json().await.unwrap();
    assert_eq!(none["manifests"], json!([]));
    expect_error(r.get("/v2/p/ref/referrers/sha256:zzz").await, StatusCode::BAD_REQUEST, "DIGEST_INVALID").await;
}

#[tokio::test]
async fn delete_manifests_by_tag_and_digest() {
    let (_b, r) = setup().await;
    let (_, digest) = r.push_image("p/del", "v1", &random_bytes(10, 10)).await;
    let d = r.http.delete(r.url("/v2/p/del/manifests/v1")).send().await.unwrap();
    assert_eq!(d.status(), StatusCode::ACCEPTED);
    expect_error(r.get("/v2/p/del/manifests/v1").await, StatusCode::NOT_FOUND, "MANIFEST_UNKNOWN").await;
    assert_eq!(r.get(&format!("/v2/p/del/manifests/{digest}")).await.status(), StatusCode::OK);

    r.put_manifest(
        "p/del",
        "v2",
        OCI_MANIFEST,
        &r.get(&format!("/v2/p/del/manifests/{digest}")).await.bytes().await.unwrap(),
    )
    .await;
    let d = r.http.delete(r.url(&format!("/v2/p/del/manifests/{digest}"))).send().await.unwrap();
    assert_eq!(d.status(), StatusCode::ACCEPTED);
    expect_error(r.get(&format!("/v2/p/del/manifests/{digest}")).await, StatusCode::NOT_FOUND, "MANIFEST_UNKNOWN")
        .await;
    // Its tags went with it.
    expect_error(r.get("/v2/p/del/manifests/v2").await, StatusCode::NOT_FOUND, "MANIFEST_UNKNOWN").await;
    let d = r.http.delete(r.url(&format!("/v2/p/del/manifests/{digest}"))).send().await.unwrap();
    expect_error(d, StatusCode::NOT_FOUND, "MANIFEST_UNKNOWN").await;
    let d = r.http.delete(r.url("/v2/p/del/manifests/sha256:1")).send().await.unwrap();
    expect_error(d, StatusCode::BAD_REQUEST, "DIGEST_INVALID").await;
}

#[tokio::test]
async fn bad_names_and_paths_never_escape_or_500() {
    let (b, r) = setup().await;
    let d = sha256_digest(b"x");
    for (path, status, code) in [
        ("/v2/UPPER/manifests/latest", StatusCode::BAD_REQUEST, "NAME_INVALID"),
        ("/v2/a%2f..%2fb/tags/list", StatusCode::BAD_REQUEST, "NAME_INVALID"),
        ("/v2/-a/tags/list", StatusCode::BAD_REQUEST, "NAME_INVALID"),
        ("/v2/p/a/blobs/sha256:..%2f..%2fetc", StatusCode::BAD_REQUEST, "NAME_INVALID"),
        ("/v2/p/a/blobs/sha256:..%5c..%5cetc", StatusCode::BAD_REQUEST, "DIGEST_INVALID"),
        ("/v2/p/a/blobs/sha256:abc", StatusCode::BAD_REQUEST, "DIGEST_INVALID"),
        ("/v2/p/a/blobs/md5:d41d8cd98f00b204e9800998ecf8427e", StatusCode::BAD_REQUEST, "DIGEST_INVALID"),
        ("/v2/p/a/unknown/endpoint", StatusCode::NOT_FOUND, "UNSUPPORTED"),
    ] {
        expect_error(r.get(path).await, status, code).await;
    }
    let long = format!("/v2/p/{}/tags/list", "a".repeat(254));
    expect_error(r.get(&long).await, StatusCode::BAD_REQUEST, "NAME_INVALID").await;
    let ok_long = format!("/v2/p/{}/blobs/{d}", "a".repeat(253));
    expect_error(r.get(&ok_long).await, StatusCode::NOT_FOUND, "BLOB_UNKNOWN").await;
    // Wrong method.
    let resp = r.http.post(r.url("/v2/p/a/tags/list")).send().await.unwrap();
    expect_error(resp, StatusCode::METHOD_NOT_ALLOWED, "UNSUPPORTED").await;
    // Nothing was created outside the data folder's storage layout.
    let storage = b.data_dir().join("storage");
    let mut entries: Vec<String> =
        std::fs::read_dir(&storage).unwrap().map(|e| e.unwrap().file_name().into_string().unwrap()).collect();
    entries.sort();
    assert_eq!(entries, ["blobs", "uploads"]);
}

#[tokio::test]
async fn concurrent_uploads_of_one_blob_both_succeed_with_one_copy() {
    let (b, r) = setup().await;
    let data = random_bytes(4 * 1024 * 1024, 11);
    let digest = sha256_digest(&data);
    let mut tasks = Vec::new();
    for i in 0..4 {
        let (http, url, data, digest) = (r.http.clone(), r.url(""), data.clone(), digest.clone());
        tasks.push(tokio::spawn(async move {
            let repo = if i % 2 == 0 { "p/same" } else { "p/other" };
            let start = http.post(format!("{url}/v2/{repo}/blobs/uploads/")).send().await.unwrap();
            let loc = start.headers()["location"].to_str().unwrap().to_owned();
            let put = http.put(format!("{url}{loc}?digest={digest}")).body(data).send().await.unwrap();
            put.status()
        }));
    }
    for t in tasks {
        assert_eq!(t.await.unwrap(), StatusCode::CREATED);
    }
    for repo in ["p/same", "p/other"] {
        assert_eq!(r.get(&format!("/v2/{repo}/blobs/{digest}")).await.bytes().await.unwrap(), data);
    }
    let hex = digest.strip_prefix("sha256:").unwrap();
    let dir = b.data_dir().join("storage/blobs/sha256").join(&hex[..2]);
    assert_eq!(std::fs::read_dir(dir).unwrap().count(), 1);
    assert_eq!(std::fs::read_dir(b.data_dir().join("storage/uploads")).unwrap().count(), 0);
}
