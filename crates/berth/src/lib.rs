//! Berth as a library: the application ([`app`]), which the `berth` binary serves ([`serve`]) and
//! tests run in process, and its configuration ([`config`]).

mod audit_purge;
pub mod config;
mod limits;
mod request_body;
mod serve;

pub use serve::{App, app, init_logging, serve};
