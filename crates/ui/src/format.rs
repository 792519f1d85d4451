//! How values read on a page: sizes, times, short digests, and the small SVG pictures.

use berth_api_types::ProjectSummaryQuota;
use berth_meta::time::ZERO_TIME;

/// `bytes` in the largest unit that keeps a number ≥ 1, as Harbor shows them ("12.3 MiB").
pub(crate) fn size(bytes: i64) -> String {
    const UNITS: [&str; 5] = ["B", "KiB", "MiB", "GiB", "TiB"];
    if bytes < 1024 {
        return format!("{bytes} B");
    }
    let mut value = bytes as f64;
    let mut unit = 0;
    while value >= 1024.0 && unit < UNITS.len() - 1 {
        value /= 1024.0;
        unit += 1;
    }
    format!("{value:.1} {}", UNITS[unit])
}

/// An RFC 3339 time from the API as "2026-11-23 04:41"; empty for Harbor's zero time (never).
pub(crate) fn time(s: &str) -> String {
    if s.is_empty() || s == ZERO_TIME {
        return String::new();
    }
    s.get(..16).map(|t| t.replace('T', " ")).unwrap_or_else(|| s.to_owned())
}

/// When an artifact or tag was last pulled: the time, or "never" rather than a blank.
pub(crate) fn pull_time(s: &str) -> String {
    let t = time(s);
    if t.is_empty() { "never".to_owned() } else { t }
}

/// `sha256:0123456789ab…` → `sha256:0123456789ab`.
pub(crate) fn short_digest(digest: &str) -> String {
    digest.get(..19).unwrap_or(digest).to_owned()
}

/// A horizontal bar of `used` against `limit`, inline SVG; without a limit (`-1`) just the
/// amount used.
pub(crate) fn quota_bar(used: i64, limit: i64) -> String {
    if limit <= 0 {
        return format!(r#"<span class="bar-label">{} (no limit)</span>"#, size(used));
    }
    let fraction = (used as f64 / limit as f64).min(1.0);
    let class = if fraction >= 0.9 {
        "bar-full"
    } else if fraction >= 0.7 {
        "bar-high"
    } else {
        "bar-ok"
    };
    let label = format!("{} of {}", size(used), size(limit));
    format!(
        r#"<svg class="bar" viewBox="0 0 100 8" preserveAspectRatio="none" role="img" aria-label="{label}"><rect width="100" height="8" rx="2" class="bar-back"/><rect width="{:.1}" height="8" rx="2" class="{class}"/></svg><span class="bar-label">{label}</span>"#,
        fraction * 100.0
    )
}

/// A project's storage against its quota (`storage`; a hard limit of -1 is none).
pub(crate) fn quota(q: &ProjectSummaryQuota) -> String {
    quota_bar(q.used.get("storage").copied().unwrap_or(0), q.hard.get("storage").copied().unwrap_or(-1))
}

/// Bars of `(label, value)` scaled to the largest, inline SVG named `title` for screen readers:
/// artifact or layer sizes, the bytes garbage collections freed.
pub(crate) fn size_chart(title: &str, items: &[(String, i64)]) -> String {
    let max = items.iter().map(|(_, v)| *v).max().unwrap_or(0).max(1);
    let row = 18;
    let mut svg = format!(
        r#"<svg class="chart" viewBox="0 0 400 {}" role="img" aria-label="{title}"><title>{title}</title>"#,
        row * items.len().max(1),
        title = escape(title)
    );
    for (i, (label, value)) in items.iter().enumerate() {
        let width = (*value as f64 / max as f64 * 200.0).max(1.0);
        let y = i * row;
        svg.push_str(&format!(
            r#"<text x="0" y="{}" class="chart-label">{}</text><rect x="110" y="{}" width="{width:.1}" height="12" rx="2" class="bar-ok"/><text x="{:.1}" y="{}" class="chart-value">{}</text>"#,
            y + 12,
            escape(label),
            y + 2,
            114.0 + width,
            y + 12,
            size(*value)
        ));
    }
    svg.push_str("</svg>");
    svg
}

/// One square per execution, oldest first, coloured by outcome: a replication history.
pub(crate) fn history(statuses: &[String]) -> String {
    let mut svg = format!(
        r#"<svg class="history" viewBox="0 0 {} 14" role="img" aria-label="recent executions">"#,
        16 * statuses.len().max(1)
    );
    for (i, status) in statuses.iter().enumerate() {
        let class = match status.as_str() {
            "Succeed" => "ok",
            "Failed" => "failed",
            "Stopped" => "stopped",
            _ => "running",
        };
        svg.push_str(&format!(
            r#"<rect x="{}" y="1" width="12" height="12" rx="2" class="h-{class}"><title>{}</title></rect>"#,
            i * 16,
            escape(status)
        ));
    }
    svg.push_str("</svg>");
    svg
}

pub(crate) fn escape(s: &str) -> String {
    s.replace('&', "&amp;").replace('<', "&lt;").replace('>', "&gt;").replace('"', "&quot;")
}

/// A long identifier (a media type, URL or repository path) as HTML that may wrap after each of
/// its separators: a narrow screen then breaks it between its parts, not inside one. `<wbr>`
/// shows nothing and is not copied with the text.
pub(crate) fn breakable(token: &str) -> String {
    let mut html = String::with_capacity(token.len() + 32);
    for c in escape(token).chars() {
        html.push(c);
        if matches!(c, '/' | '.' | ':' | '@' | '+' | '_') {
            html.push_str("<wbr>");
        }
    }
    html
}

/// The templates' own filters.
pub(crate) mod filters {
    use askama::Values;
    use askama::filters::Safe;

    /// `{{ value|breakable }}`: see [`super::breakable`].
    #[askama::filter_fn]
    pub(crate) fn breakable(value: impl ToString, _: &dyn Values) -> askama::Result<Safe<String>> {
        Ok(Safe(super::breakable(&value.to_string())))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sizes_read_like_harbor() {
        assert_eq!(size(0), "0 B");
        assert_eq!(size(1536), "1.5 KiB");
        assert_eq!(size(3 * 1024 * 1024 * 1024), "3.0 GiB");
    }

    #[test]
    fn a_pull_time_says_never_for_harbors_zero_time() {
        assert_eq!(pull_time("0001-01-01T00:00:00.000Z"), "never");
        assert_eq!(pull_time(""), "never");
        assert_eq!(pull_time("2026-11-23T04:41:07Z"), "2026-11-23 04:41");
    }

    #[test]
    fn labels_in_pictures_are_escaped() {
        assert!(size_chart("<i>", &[("<b>".to_owned(), 5)]).contains("&lt;b&gt;"));
        assert!(!size_chart("<i>", &[]).contains("<i>"));
        assert!(!history(&["<x>".to_owned()]).contains("<x>"));
    }

    #[test]
    fn identifiers_may_break_between_their_parts_and_stay_escaped() {
        assert_eq!(breakable("application/vnd.oci+json"), "application/<wbr>vnd.<wbr>oci+<wbr>json");
        assert_eq!(breakable("a<b>&c"), "a&lt;b&gt;&amp;c");
    }

    #[test]
    fn a_full_quota_draws_a_full_bar() {
        assert!(quota_bar(200, 100).contains(r#"width="100.0""#));
        assert!(quota_bar(5, -1).contains("no limit"));
    }
}
