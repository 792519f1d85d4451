//! The scale-out deployment of the README on one machine: N Berth instances on one PostgreSQL
//! database and one blob store, behind nginx.

use std::process::Command;

use berth_testkit::nginx::Nginx;

use crate::support::{Berth, BerthBuilder, Server, TestDatabase, free_port};

/// The blob store every instance of a cluster uses: a fresh folder (`root_directory`) of the S3
/// test bucket (Garage). Each instance keeps its own data volume, which holds nothing shared.
pub struct SharedStore {
    root: String,
}

impl SharedStore {
    pub fn new() -> SharedStore {
        SharedStore { root: crate::support::s3::fresh_root() }
    }

    /// The configuration (`BERTH_*` variables) an instance needs to use this store.
    pub fn env(&self) -> Vec<(String, String)> {
        crate::support::s3::storage_env(&self.root)
    }

    /// The store, opened as the instances open it.
    pub async fn open(&self) -> berth_storage::BlobStore {
        crate::support::s3::open_store(&self.root).await
    }
}

/// Instances, their database, their store and the load balancer in front of them. Fields drop in
/// order: the load balancer first, the database last.
pub struct Cluster {
    pub lb: Nginx,
    pub instances: Vec<Berth>,
    pub store: SharedStore,
    pub db: TestDatabase,
}

impl Cluster {
    /// `n` instances on a fresh, empty database. All processes are spawned before any is waited
    /// for, so they race through migrations and first-start set-up as a fleet started together
    /// would. Their `external_url` is the load balancer's URL.
    pub fn start(n: usize) -> Cluster {
        Cluster::start_with(n, &[])
    }

    /// [`Cluster::start`], every instance with configuration `env` (`BERTH_*` variables) as well.
    pub fn start_with(n: usize, env: &[(&str, &str)]) -> Cluster {
        let db = TestDatabase::create();
        let store = SharedStore::new();
        // The instances must know the load balancer's URL before it knows theirs.
        let lb_port = free_port();
        let external_url = format!("http://127.0.0.1:{lb_port}");
        let configured = || env.iter().fold(instance(&db, &store, &external_url), |b, (k, v)| b.with_env(k, v));
        let mut instances: Vec<Berth> = (0..n).map(|_| configured().spawn()).collect();
        for berth in &mut instances {
            berth.wait_ready();
        }
        let upstreams: Vec<String> = instances.iter().map(Berth::host).collect();
        let lb = Nginx::start(lb_port, &upstreams);
        Cluster { lb, instances, store, db }
    }

    /// One value from the cluster's database (`psql -tA`), e.g. a count.
    pub fn sql(&self, query: &str) -> String {
        self.db.sql(query)
    }
}

/// The load balancer is where clients send requests.
impl Server for Nginx {
    fn url(&self, path: &str) -> String {
        Nginx::url(self, path)
    }
}

/// An instance of a cluster: the shared database and store, and the load balancer's URL as its
/// external URL (token realm, `Location` headers). Nothing else differs between instances but
/// the port the harness gives each.
pub fn instance(db: &TestDatabase, store: &SharedStore, external_url: &str) -> BerthBuilder {
    let mut builder =
        Berth::builder().with_env("BERTH_DATABASE_URL", &db.url()).with_env("BERTH_EXTERNAL_URL", external_url);
    for (key, value) in store.env() {
        builder = builder.with_env(&key, &value);
    }
    builder
}

/// The largest number of bytes any established connection to `127.0.0.1:port` has received
/// (`ss`, from the kernel's TCP statistics). Whatever the blob store, an instance that is
/// receiving a large layer shows it here while the upload is in progress.
pub fn max_bytes_received(port: u16) -> u64 {
    let out = crate::support::run(Command::new("ss").args([
        "-Htin",
        "state",
        "established",
        "sport",
        "=",
        &format!(":{port}"),
    ]));
    out.split_whitespace()
        .filter_map(|field| field.strip_prefix("bytes_received:"))
        .filter_map(|n| n.parse().ok())
        .max()
        .unwrap_or(0)
}
