//! `Content-Range` of upload chunks and `Range` of blob pulls. The input is a `Content-Range`
//! value; when it reads `SIZE\nVALUE`, `VALUE` is also a `Range` asked of a blob of `SIZE` bytes.

use berth_oci::range::{ContentRange, RangeSpec, parse_content_range, parse_range};

pub fn check(data: &[u8]) {
    let Some(text) = crate::text(data) else { return };
    check_content_range(text);
    if let Some((size, value)) = text.split_once('\n')
        && let Ok(size) = size.parse::<u64>()
    {
        check_range(value, size);
    }
}

fn check_content_range(value: &str) {
    let Some(range @ ContentRange { start, length }) = parse_content_range(value) else { return };
    assert!(length >= 1, "{value:?}: an empty chunk");
    let end = start.checked_add(length - 1).unwrap_or_else(|| panic!("{value:?}: the chunk ends past 2^64"));
    for canonical in [format!("{start}-{end}"), format!("bytes {start}-{end}/*")] {
        assert_eq!(parse_content_range(&canonical), Some(range), "{value:?} printed as {canonical:?}");
    }
}

fn check_range(value: &str, size: u64) {
    let RangeSpec::Satisfiable(first, last) = parse_range(value, size) else { return };
    assert!(first <= last && last < size, "{value:?} of {size} bytes gave {first}-{last}");
    let canonical = format!("bytes={first}-{last}");
    assert_eq!(
        parse_range(&canonical, size),
        RangeSpec::Satisfiable(first, last),
        "{value:?} printed as {canonical:?}"
    );
}
