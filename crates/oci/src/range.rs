//! Byte ranges of the distribution API, read from untrusted headers: the `Content-Range` a client
//! declares for an upload chunk, and the `Range` it asks of a blob.

/// The bytes a chunk's `Content-Range` declares: where they start and how many (at least one).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ContentRange {
    pub start: u64,
    pub length: u64,
}

/// `start-end` (inclusive), also accepted with a `bytes ` or `bytes=` prefix and a `/total`
/// suffix. `None` for anything else, for `end < start`, and for a span of 2^64 bytes, whose
/// length a `u64` cannot hold.
pub fn parse_content_range(value: &str) -> Option<ContentRange> {
    let v = value.trim();
    let v = v.strip_prefix("bytes=").or_else(|| v.strip_prefix("bytes ")).unwrap_or(v);
    let v = v.split('/').next()?;
    let (start, end) = v.split_once('-')?;
    let (start, end): (u64, u64) = (start.trim().parse().ok()?, end.trim().parse().ok()?);
    let length = end.checked_sub(start)?.checked_add(1)?;
    Some(ContentRange { start, length })
}

/// What a blob `GET`'s `Range` header asks of a blob of a given size.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RangeSpec {
    /// Not a single byte range we understand: serve the whole blob (RFC 9110 allows ignoring).
    Ignore,
    /// Inclusive byte positions, both inside the blob.
    Satisfiable(u64, u64),
    Unsatisfiable,
}

/// Reads a `Range` header (`bytes=first-last`, `bytes=first-`, `bytes=-suffix`) against a blob of
/// `size` bytes.
pub fn parse_range(value: &str, size: u64) -> RangeSpec {
    let Some(spec) = value.trim().strip_prefix("bytes=") else {
        return RangeSpec::Ignore;
    };
    if spec.contains(',') {
        return RangeSpec::Ignore;
    }
    let Some((first, last)) = spec.split_once('-') else {
        return RangeSpec::Ignore;
    };
    let (first, last) = (first.trim(), last.trim());
    let parse = |s: &str| s.parse::<u64>().ok();
    match (first.is_empty(), last.is_empty()) {
        // bytes=-N: the last N bytes.
        (true, false) => match parse(last) {
            Some(0) => RangeSpec::Unsatisfiable,
            Some(n) if size > 0 => RangeSpec::Satisfiable(size.saturating_sub(n), size - 1),
            Some(_) => RangeSpec::Unsatisfiable,
            None => RangeSpec::Ignore,
        },
        (false, true) => match parse(first) {
            Some(f) if f < size => RangeSpec::Satisfiable(f, size - 1),
            Some(_) => RangeSpec::Unsatisfiable,
            None => RangeSpec::Ignore,
        },
        (false, false) => match (parse(first), parse(last)) {
            (Some(f), Some(l)) if f > l => RangeSpec::Ignore,
            (Some(f), Some(_)) if f >= size => RangeSpec::Unsatisfiable,
            (Some(f), Some(l)) => RangeSpec::Satisfiable(f, l.min(size - 1)),
            _ => RangeSpec::Ignore,
        },
        (true, true) => RangeSpec::Ignore,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn content_ranges() {
        let range = |start, length| Some(ContentRange { start, length });
        assert_eq!(parse_content_range("0-9"), range(0, 10));
        assert_eq!(parse_content_range("bytes 10-19/*"), range(10, 10));
        assert_eq!(parse_content_range("bytes=10-19"), range(10, 10));
        assert_eq!(parse_content_range("7-7"), range(7, 1));
        let max = u64::MAX;
        assert_eq!(parse_content_range(&format!("1-{max}")), range(1, max));
        // 2^64 bytes: one more than a u64 holds.
        assert_eq!(parse_content_range(&format!("0-{max}")), None);
        assert_eq!(parse_content_range("9-0"), None);
        assert_eq!(parse_content_range("x-1"), None);
        assert_eq!(parse_content_range("-1-2"), None);
        assert_eq!(parse_content_range(""), None);
    }

    #[test]
    fn ranges() {
        use RangeSpec::*;
        assert_eq!(parse_range("bytes=0-9", 100), Satisfiable(0, 9));
        assert_eq!(parse_range("bytes=90-", 100), Satisfiable(90, 99));
        assert_eq!(parse_range("bytes=-10", 100), Satisfiable(90, 99));
        assert_eq!(parse_range("bytes=-1000", 100), Satisfiable(0, 99));
        assert_eq!(parse_range("bytes=50-1000", 100), Satisfiable(50, 99));
        assert_eq!(parse_range("bytes=100-", 100), Unsatisfiable);
        assert_eq!(parse_range("bytes=100-200", 100), Unsatisfiable);
        assert_eq!(parse_range("bytes=-0", 100), Unsatisfiable);
        assert_eq!(parse_range("bytes=-5", 0), Unsatisfiable);
        assert_eq!(parse_range("bytes=0-", 0), Unsatisfiable);
        assert_eq!(parse_range("bytes=5-1", 100), Ignore);
        assert_eq!(parse_range("bytes=0-1,5-6", 100), Ignore);
        assert_eq!(parse_range("items=0-1", 100), Ignore);
        assert_eq!(parse_range("bytes=x-1", 100), Ignore);
    }
}
