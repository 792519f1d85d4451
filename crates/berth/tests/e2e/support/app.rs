//! [`TestApp`]: Berth's application (`berth::app`) running in this process on a temp data folder
//! (SQLite, or a fresh PostgreSQL database when `TEST_BERTH_DATABASE=postgres`), its job runner
//! and replication loops started as `berth serve` starts them. Requests reach its router through
//! `tower::ServiceExt::oneshot` (see [`super::http`]): no port, no process start. For the tests of
//! API and registry logic; what needs a real process uses [`super::Berth`].

use std::sync::atomic::{AtomicU64, Ordering};

use berth::config::Config;
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};

use super::registry::api_as;
use super::{ADMIN, Server, TestDatabase, http};

/// Builds a [`TestApp`]: configuration (`BERTH_*` keys, as the binary reads them from its
/// environment), and users, projects and members made through the API once it runs.
#[derive(Default)]
pub struct TestAppBuilder {
    env: Vec<(String, String)>,
    users: Vec<(String, String)>,
    projects: Vec<(String, bool)>,
    members: Vec<(String, String, i64)>,
}

impl TestAppBuilder {
    pub fn with_env(mut self, key: &str, value: &str) -> Self {
        self.env.push((key.to_owned(), value.to_owned()));
        self
    }

    /// User `name` with password `password` (made by the admin).
    pub fn with_user(mut self, name: &str, password: &str) -> Self {
        self.users.push((name.to_owned(), password.to_owned()));
        self
    }

    /// Project `name`, public or private (made by the admin).
    pub fn with_project(mut self, name: &str, public: bool) -> Self {
        self.projects.push((name.to_owned(), public));
        self
    }

    /// User `user` a member of `project` with Harbor role id `role`.
    pub fn with_member(mut self, project: &str, user: &str, role: i64) -> Self {
        self.members.push((project.to_owned(), user.to_owned(), role));
        self
    }

    pub async fn start(self) -> TestApp {
        static NEXT: AtomicU64 = AtomicU64::new(1);
        let data = tempfile::tempdir().expect("tempdir");
        // On PostgreSQL (`TEST_BERTH_DATABASE=postgres`) a fresh database, unless the test gave one.
        let given = self.env.iter().any(|(k, _)| k == "BERTH_DATABASE_URL");
        let database = if given { None } else { TestDatabase::from_env() };
        let mut env = vec![("BERTH_DATA_VOLUME".to_owned(), super::path_str(&data.path().join("data")).to_owned())];
        if let Some(db) = &database {
            env.push(("BERTH_DATABASE_URL".to_owned(), db.url()));
        }
        env.extend(self.env);
        let config = Config::load(None, env).expect("test configuration");
        let host = format!("app-{}.berth.test", NEXT.fetch_add(1, Ordering::Relaxed));
        let mut app = TestApp { app: None, config, host, _data: data, _database: database };
        app.run().await;
        for (name, password) in &self.users {
            app.create_user(name, password).await;
        }
        for (name, public) in &self.projects {
            app.create_project(name, *public).await;
        }
        for (project, user, role) in &self.members {
            app.add_member(project, user, *role).await;
        }
        app
    }
}

pub struct TestApp {
    app: Option<berth::App>,
    config: Config,
    /// The host name its URLs have, which [`http::Client`] routes to it.
    host: String,
    _data: tempfile::TempDir,
    /// Its PostgreSQL database, when the suite runs on PostgreSQL; dropped last.
    _database: Option<TestDatabase>,
}

impl TestApp {
    pub fn builder() -> TestAppBuilder {
        TestAppBuilder::default()
    }

    /// An application on the embedded defaults, with nothing in it but what a first start makes.
    pub async fn start() -> TestApp {
        TestApp::builder().start().await
    }

    async fn run(&mut self) {
        let mut app = berth::app(self.config.clone()).await.expect("the application starts");
        app.start();
        http::register(&self.host, app.router());
        self.app = Some(app);
    }

    /// Stops the application as `berth serve` does after its last request, and starts it again on
    /// the same data.
    pub async fn restart(&mut self) {
        http::unregister(&self.host);
        self.app.take().expect("running").shutdown().await;
        self.run().await;
    }

    /// `app-N.berth.test`, the host its URLs name.
    pub fn host(&self) -> String {
        self.host.clone()
    }

    pub fn url(&self, path: &str) -> String {
        format!("http://{}{path}", self.host)
    }

    /// The data volume: SQLite database and blobs.
    pub fn data_dir(&self) -> std::path::PathBuf {
        self.config.data_volume.clone()
    }

    /// Its configuration, as `berth serve` would read it.
    pub fn config(&self) -> &Config {
        &self.config
    }

    /// The PostgreSQL database it runs on, if it does.
    pub fn database_url(&self) -> Option<String> {
        Some(self.config.database.url.clone()).filter(|url| !url.is_empty())
    }

    /// The process it runs in (which its job workers name in their pool).
    pub fn pid(&self) -> u32 {
        std::process::id()
    }

    /// Its metadata store (SQLite file or PostgreSQL database).
    pub fn meta(&self) -> berth_meta::Meta {
        self.app.as_ref().expect("running").meta().clone()
    }

    /// Runs `statement` on its database directly, for what no API sets: times in the past (push
    /// and pull times tests cannot wait for), rows of features built elsewhere.
    pub async fn execute_sql(&self, statement: &str) {
        use sqlx::Connection;
        let url = &self.config.database.url;
        if url.is_empty() {
            let path = self.config.data_volume.join("registry.db");
            let mut db = sqlx::SqliteConnection::connect(&format!("sqlite://{}", path.display())).await.unwrap();
            sqlx::query(sqlx::AssertSqlSafe(statement.to_owned())).execute(&mut db).await.unwrap();
        } else {
            let mut db = sqlx::PgConnection::connect(url).await.unwrap();
            sqlx::query(sqlx::AssertSqlSafe(statement.to_owned())).execute(&mut db).await.unwrap();
        }
    }

    /// Creates project `name` as admin.
    pub async fn create_project(&self, name: &str, public: bool) {
        let body = json!({"project_name": name, "metadata": {"public": public.to_string()}});
        let r = api_as(self, ADMIN, Method::POST, "/projects", Some(body)).await;
        assert_eq!(r.status(), StatusCode::CREATED, "creating project {name}: {}", r.text().await.unwrap());
    }

    /// Creates user `name` (password `password`) as admin; returns the user id.
    pub async fn create_user(&self, name: &str, password: &str) -> i64 {
        let body =
            json!({"username": name, "password": password, "email": format!("{name}@example.com"), "realname": name});
        let r = api_as(self, ADMIN, Method::POST, "/users", Some(body)).await;
        assert_eq!(r.status(), StatusCode::CREATED, "creating user {name}: {}", r.text().await.unwrap());
        let r = api_as(self, ADMIN, Method::GET, &format!("/users/search?username={name}"), None).await;
        let users: Value = r.json().await.unwrap();
        users.as_array().unwrap().iter().find(|u| u["username"] == name).unwrap()["user_id"].as_i64().unwrap()
    }

    /// Makes user `name` a member of `project` with Harbor role id `role`.
    pub async fn add_member(&self, project: &str, name: &str, role: i64) {
        let body = json!({"role_id": role, "member_user": {"username": name}});
        let r = api_as(self, ADMIN, Method::POST, &format!("/projects/{project}/members"), Some(body)).await;
        assert_eq!(r.status(), StatusCode::CREATED, "adding {name} to {project}: {}", r.text().await.unwrap());
    }
}

impl Server for TestApp {
    fn url(&self, path: &str) -> String {
        TestApp::url(self, path)
    }
}

impl Drop for TestApp {
    fn drop(&mut self) {
        // The data folder and the database go with the fields; the application's tasks end with
        // the test's runtime.
        http::unregister(&self.host);
    }
}
