//! The `BERTH_STORAGE_S3_*` settings that put a test server's blobs in a folder
//! (`root_directory`) of the S3 test bucket (`berth_testkit::s3`: Garage, started once per test
//! process, never skipped).

pub use berth_testkit::s3::fresh_root;

/// Settings that put a Berth's blobs under `root_directory` of the test bucket.
pub fn storage_env(root_directory: &str) -> Vec<(String, String)> {
    storage_env_of(berth_testkit::s3::server(), root_directory)
}

/// Settings that put a Berth's blobs under `root_directory` of the bucket `s` describes (a
/// private server's, for a test that stops it).
pub fn storage_env_of(s: &berth_testkit::s3::S3Settings, root_directory: &str) -> Vec<(String, String)> {
    [
        ("BERTH_STORAGE_S3_ENDPOINT", &s.endpoint),
        ("BERTH_STORAGE_S3_BUCKET", &s.bucket),
        ("BERTH_STORAGE_S3_REGION", &s.region),
        ("BERTH_STORAGE_S3_ACCESS_KEY", &s.access_key),
        ("BERTH_STORAGE_S3_SECRET_KEY", &s.secret_key),
        ("BERTH_STORAGE_S3_ROOT_DIRECTORY", &root_directory.to_owned()),
    ]
    .into_iter()
    .map(|(key, value)| (key.to_owned(), value.clone()))
    .collect()
}

/// The blob store under `root_directory` of the test bucket, as a Berth configured with
/// [`storage_env`] opens it: for a test to see what is stored.
pub async fn open_store(root_directory: &str) -> berth_storage::BlobStore {
    let s = berth_testkit::s3::server();
    let config = berth_storage::S3Config {
        endpoint: s.endpoint.clone(),
        bucket: s.bucket.clone(),
        region: s.region.clone(),
        access_key: s.access_key.clone(),
        secret_key: s.secret_key.clone(),
        root_directory: root_directory.to_owned(),
    };
    berth_storage::BlobStore::open_s3(&config).await.expect("the test bucket opens")
}
