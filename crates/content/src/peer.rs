//! What a replicating Berth tells the registry it writes to, in request headers: where the change
//! comes from (so it is not replicated back there) and when it was made at its source (so two
//! registries replicating to each other settle on the same last change of a tag). The registry
//! reads them, replication's clients send them; both name them from here.

/// The header a replicating Berth names itself in (its registry id), so that this change is not
/// replicated back to it. Anyone may send it; the worst it does is keep the change from being
/// sent to the registry it names, which the sender could equally have refused to receive.
pub const ORIGIN_HEADER: &str = "x-berth-origin";

/// The header a replicating Berth gives the time (unix seconds) of the change it copies, for
/// tag writes and deletes: the receiver applies it only if it is newer than its own last change
/// of the tag.
pub const CHANGE_TIME_HEADER: &str = "x-berth-change-time";

/// Answered on a replicated tag write that was older than the receiver's own last change.
pub const SUPERSEDED_HEADER: &str = "x-berth-superseded";

/// A registry id as [`ORIGIN_HEADER`] may carry it: 1 to 64 ASCII letters, digits and dashes.
pub fn origin(value: &str) -> Option<&str> {
    let valid = !value.is_empty() && value.len() <= 64 && value.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-');
    valid.then_some(value)
}

/// A change time as [`CHANGE_TIME_HEADER`] may carry it: unix seconds, not negative.
pub fn change_time(value: &str) -> Option<i64> {
    value.parse().ok().filter(|t| *t >= 0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_only_well_formed_values() {
        assert_eq!(origin("3f2a-9c"), Some("3f2a-9c"));
        assert_eq!(origin(""), None);
        assert_eq!(origin("a b"), None);
        assert_eq!(origin(&"a".repeat(65)), None);
        assert_eq!(change_time("1795000000"), Some(1_795_000_000));
        assert_eq!(change_time("-1"), None);
        assert_eq!(change_time("soon"), None);
    }
}
