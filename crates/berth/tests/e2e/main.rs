//! Berth's end-to-end tests, one test binary (one link, tests in parallel) with a module per
//! subject. `support::app::TestApp` runs the application in this process, requests going through
//! its router without a socket: most API and registry logic is tested that way. `support::Berth`
//! runs the real binary, for what needs a real process: `kill -9`, SIGTERM, real clients, several
//! instances behind nginx, HTTPS with real certificates, S3 across restarts, the browser, replication with peers, configuration
//! errors at start.

mod abuse;
mod api_conformance;
mod audit;
mod clients;
mod configurations;
mod distribution;
mod endpoint_secrets;
mod error_bodies;
mod gc;
mod ha;
mod harbor_clients;
mod health;
mod identity;
mod immutability;
mod jobs;
mod labels;
mod log_out;
mod login;
mod metrics;
mod otlp;
mod outages;
mod portal;
mod proxy;
mod proxy_cache;
mod purge;
mod quota;
mod replication;
mod repositories;
mod resilience;
mod retention;
mod robots;
mod s3;
mod shapes;
mod support;
mod tls;
