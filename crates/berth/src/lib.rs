//! Berth as a library: the application ([`app`]), which the `berth` binary serves ([`serve`]) and
//! tests run in process, and its configuration ([`config`]).

mod audit_purge;
mod request_body;
pub mod config;
mod serve;

pub use serve::{App, app, init_logging, serve};
