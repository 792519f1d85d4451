//! Ids and Harbor's `q=` query language (parsed in `berth_api_types::query`) as the handlers read
//! them from a request.

pub(crate) use berth_api_types::query::{Query, Term};

use crate::error::ApiError;

/// A numeric id from a path, where `what` names it in the error ("job", "registry"...). One that
/// is not a number names nothing: 404, as for an id no row has.
pub(crate) fn parse_id(raw: &str, what: &str) -> Result<i64, ApiError> {
    raw.parse().map_err(|_| ApiError::not_found(format!("{what} {raw:?} not found: ids are numbers")))
}
