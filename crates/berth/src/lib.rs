//! Berth as a library: the application ([`app`]), which the `berth` binary serves ([`serve`]) and
//! tests run in process, and its configuration ([`config`]).

pub mod config;
pub mod gc;
mod housekeeping;
mod limits;
mod listener;
mod metrics;
mod no_sniffing;
mod origin;
mod redirect;
mod request_body;
mod serve;
mod telemetry;
mod tls;

pub use serve::{App, app, serve};
pub use telemetry::{Telemetry, init_logging};
