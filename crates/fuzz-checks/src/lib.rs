//! What fuzzing asserts of each parser that reads untrusted input, beyond "it does not panic": a
//! parsed value prints back to what parses to the same value, bounds hold, two ways of reaching an
//! answer agree. Each check takes the fuzzer's raw bytes and panics when an invariant breaks.
//!
//! The cargo-fuzz targets in `fuzz/` are one line each, calling these; `tests/inputs.rs` runs every
//! committed seed (`fuzz/corpus/<target>/`) and regression (`fuzz/regressions/<target>/`) through
//! the same checks, so a plain `cargo test` keeps them without the fuzzer (or a nightly compiler).

pub mod manifest;
pub mod query;
pub mod range;
pub mod reference;
pub mod token;

/// A target's check: panics when the parser breaks an invariant on these bytes.
pub type Check = fn(&[u8]);

/// Every target by the name of its fuzz binary and of its directories under `fuzz/`.
pub const TARGETS: &[(&str, Check)] = &[
    ("manifest", manifest::check),
    ("reference", reference::check),
    ("query", query::check),
    ("token", token::check),
    ("range", range::check),
];

/// The input as text: header values and URL paths reach the parsers as `&str`, so bytes that are
/// not UTF-8 never get that far.
fn text(data: &[u8]) -> Option<&str> {
    std::str::from_utf8(data).ok()
}
