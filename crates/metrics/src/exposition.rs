//! The exposition formats: OpenMetrics (what Prometheus asks for), and Prometheus' classic text
//! format for everything else (`promtool check metrics`, curl, older scrapers).
//!
//! prometheus-client writes OpenMetrics only. The two differ, for what Berth exposes, in three
//! things: OpenMetrics names a counter's family without its `_total` suffix in `# HELP` and
//! `# TYPE` while the classic format names it as its samples are named, and OpenMetrics ends
//! with `# EOF`.

use prometheus_client::encoding::text::{encode_eof, encode_registry};
use prometheus_client::registry::Registry;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    OpenMetrics,
    Classic,
}

impl Format {
    /// The format a scraper's `Accept` header asks for.
    pub fn negotiate(accept: Option<&str>) -> Format {
        match accept {
            Some(accept) if accept.contains("application/openmetrics-text") => Format::OpenMetrics,
            _ => Format::Classic,
        }
    }

    pub fn content_type(self) -> &'static str {
        match self {
            Format::OpenMetrics => "application/openmetrics-text; version=1.0.0; charset=utf-8",
            Format::Classic => "text/plain; version=0.0.4; charset=utf-8",
        }
    }
}

pub(crate) fn render(registries: &[&Registry], format: Format) -> String {
    let mut text = String::new();
    for registry in registries {
        encode_registry(&mut text, registry).expect("writing to a String cannot fail");
    }
    match format {
        Format::OpenMetrics => {
            encode_eof(&mut text).expect("writing to a String cannot fail");
            text
        }
        Format::Classic => classic(&text),
    }
}

/// OpenMetrics text (without `# EOF`) as the classic text format.
fn classic(open_metrics: &str) -> String {
    let counters: Vec<&str> =
        open_metrics.lines().filter_map(|line| line.strip_prefix("# TYPE ")?.strip_suffix(" counter")).collect();
    let mut out = String::with_capacity(open_metrics.len() + 8 * counters.len());
    for line in open_metrics.lines() {
        let renamed = ["# HELP ", "# TYPE "].iter().find_map(|prefix| {
            let rest = line.strip_prefix(prefix)?;
            let (name, tail) = rest.split_once(' ')?;
            counters.contains(&name).then(|| format!("{prefix}{name}_total {tail}"))
        });
        out.push_str(renamed.as_deref().unwrap_or(line));
        out.push('\n');
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counters_are_named_by_their_samples_in_the_classic_format() {
        let open = "# HELP berth_x Things.\n# TYPE berth_x counter\nberth_x_total{a=\"b\"} 3\n\
                    # HELP berth_g A gauge.\n# TYPE berth_g gauge\nberth_g 1\n";
        assert_eq!(
            classic(open),
            "# HELP berth_x_total Things.\n# TYPE berth_x_total counter\nberth_x_total{a=\"b\"} 3\n\
             # HELP berth_g A gauge.\n# TYPE berth_g gauge\nberth_g 1\n"
        );
    }

    #[test]
    fn negotiation_prefers_open_metrics_only_when_asked() {
        let prometheus = "application/openmetrics-text;version=1.0.0,application/openmetrics-text;version=0.0.1;q=0.75,text/plain;version=0.0.4;q=0.5,*/*;q=0.1";
        assert_eq!(Format::negotiate(Some(prometheus)), Format::OpenMetrics);
        assert_eq!(Format::negotiate(Some("*/*")), Format::Classic);
        assert_eq!(Format::negotiate(None), Format::Classic);
    }
}
