//! The headers `/api/v2.0` reads and writes besides the bodies (lower case, as HTTP/2 sends them).

/// A listing's total number of items (Harbor).
pub const X_TOTAL_COUNT: &str = "x-total-count";

/// Berth's own: `true` when the audit log stopped counting at its cap, so `X-Total-Count` is a
/// lower bound ("more than N"); `Link` still leads to the next page.
pub const X_TOTAL_COUNT_CAPPED: &str = "x-total-count-capped";

/// `true`: the `{project_name_or_id}` of the path is a name even if it looks like a number (Harbor).
pub const X_IS_RESOURCE_NAME: &str = "x-is-resource-name";

/// `true` on `POST /projects`: the `Location` of the new project ends with its name, not its id
/// (Harbor).
pub const X_RESOURCE_NAME_IN_LOCATION: &str = "x-resource-name-in-location";
