//! Medians, spreads and the table.

use crate::gc::GcRun;
use crate::limits::Limits;
use crate::workloads::{Results, Wrk};

/// A row: Berth and distribution, median with min–max, and how Berth compares.
pub struct Row {
    name: String,
    berth: Vec<f64>,
    dist: Vec<f64>,
    higher_is_better: bool,
    /// The limit the workload runs into, in the row's unit.
    limit: Option<f64>,
}

pub fn median(v: &[f64]) -> f64 {
    let mut s = v.to_vec();
    s.sort_by(|a, b| a.total_cmp(b));
    if s.is_empty() {
        return f64::NAN;
    }
    let mid = s.len() / 2;
    if s.len().is_multiple_of(2) { (s[mid - 1] + s[mid]) / 2.0 } else { s[mid] }
}

fn spread(v: &[f64]) -> String {
    let min = v.iter().copied().fold(f64::INFINITY, f64::min);
    let max = v.iter().copied().fold(f64::NEG_INFINITY, f64::max);
    if v.len() < 2 { String::new() } else { format!(" [{}–{}]", fmt(min), fmt(max)) }
}

fn fmt(x: f64) -> String {
    if x.is_nan() {
        "n/a".into()
    } else if x >= 100.0 {
        format!("{x:.0}")
    } else if x >= 10.0 {
        format!("{x:.1}")
    } else {
        format!("{x:.2}")
    }
}

impl Row {
    pub fn higher_is_better(name: &str, berth: &[f64], dist: &[f64], limit: Option<f64>) -> Row {
        Row { name: name.into(), berth: berth.to_vec(), dist: dist.to_vec(), higher_is_better: true, limit }
    }

    pub fn lower_is_better(name: &str, berth: &[f64], dist: &[f64], limit: Option<f64>) -> Row {
        Row { name: name.into(), berth: berth.to_vec(), dist: dist.to_vec(), higher_is_better: false, limit }
    }

    pub fn single(name: &str, berth: f64, dist: f64, higher_is_better: bool) -> Row {
        Row { name: name.into(), berth: vec![berth], dist: vec![dist], higher_is_better, limit: None }
    }

    /// Berth's advantage: > 1 means Berth is better, whichever direction is better.
    fn ratio(&self) -> f64 {
        let (b, d) = (median(&self.berth), median(&self.dist));
        if self.higher_is_better { b / d } else { d / b }
    }
}

#[derive(Default)]
pub struct Report {
    limit_lines: Vec<String>,
    rows: Vec<Row>,
    gc: Vec<GcRun>,
}

const MB: f64 = 1_000_000.0;

impl Report {
    pub fn limits(&mut self, l: &Limits) {
        self.limit_lines = vec![
            format!("SHA-256, one core (sha2): {} MB/s", fmt(l.sha256 / MB)),
            format!("disk sequential write + fsync: {} MB/s", fmt(l.disk_write / MB)),
            format!(
                "disk sequential read (page cache may serve it, as it serves pulls): {} MB/s",
                fmt(l.disk_read / MB)
            ),
        ];
    }

    /// The loopback limit as measured right before the pulls of Berth (`b`) and distribution.
    fn loopback_line(&mut self, b: &[f64], d: &[f64]) {
        let mb = |v: &[f64]| {
            let v: Vec<f64> = v.iter().map(|x| x / MB).collect();
            format!("{}{}", fmt(median(&v)), spread(&v))
        };
        self.limit_lines.push(format!(
            "loopback HTTP, nginx serving a file (the faster of sendfile and read/write), one curl stream, measured right before each pull: {} MB/s before Berth's, {} before distribution's",
            mb(b),
            mb(d)
        ));
    }

    /// Requests/s of a wrk workload, then its p50 (if asked) and p99 latency.
    fn wrk_rows(&mut self, name: &str, berth: &Wrk, dist: &Wrk, with_p50: bool) {
        self.row(Row::higher_is_better(&format!("{name} (req/s)"), &berth.rps, &dist.rps, None));
        if with_p50 {
            self.row(Row::lower_is_better("  p50 latency (ms)", &berth.p50, &dist.p50, None));
        }
        self.row(Row::lower_is_better("  p99 latency (ms)", &berth.p99, &dist.p99, None));
    }

    pub fn row(&mut self, row: Row) {
        self.rows.push(row);
    }

    pub fn workloads(&mut self, b: &Results, d: &Results, l: &Limits) {
        self.loopback_line(&b.loopback, &d.loopback);
        let push = Some(l.push() / MB);
        let pull = Some(l.pull(median(&b.loopback)) / MB);
        self.row(Row::higher_is_better(
            &format!("{} monolithic push (MB/s)", b.big_label),
            &b.mono_push,
            &d.mono_push,
            push,
        ));
        self.row(Row::higher_is_better(
            &format!("{} chunked push (MB/s)", b.big_label),
            &b.chunked_push,
            &d.chunked_push,
            push,
        ));
        self.row(Row::higher_is_better(&format!("{} pull (MB/s)", b.big_label), &b.pull, &d.pull, pull));
        self.row(Row::higher_is_better(
            &format!("{} concurrent pushes (MB/s total)", b.concurrent_label),
            &b.concurrent_push,
            &d.concurrent_push,
            push,
        ));
        self.row(Row::higher_is_better(
            &format!("{} concurrent pulls (MB/s total)", b.concurrent_label),
            &b.concurrent_pull,
            &d.concurrent_pull,
            pull,
        ));
        self.row(Row::lower_is_better(
            &format!("skopeo push, {} (s)", b.layers_label),
            &b.skopeo_push,
            &d.skopeo_push,
            None,
        ));
        self.row(Row::lower_is_better(
            &format!("skopeo pull, {} (s)", b.layers_label),
            &b.skopeo_pull,
            &d.skopeo_pull,
            None,
        ));
        self.row(Row::lower_is_better(
            &format!("skopeo pull, {}, client's files in memory (s)", b.layers_label),
            &b.skopeo_pull_memory,
            &d.skopeo_pull_memory,
            None,
        ));
        // The token run is compared with distribution's only run (it checks no credentials).
        self.wrk_rows("manifest GET, 32 conns, anonymous", &b.wrk_anon, &d.wrk_anon, true);
        self.wrk_rows("manifest GET, 32 conns, bearer token", &b.wrk_token, &d.wrk_anon, false);
        self.wrk_rows("config blob GET, 32 conns, anonymous", &b.wrk_blob, &d.wrk_blob, true);
        self.row(Row::lower_is_better(
            &format!("API: list artifacts of a {}-artifact repo, p50 (ms)", b.artifacts),
            &[b.list_p50],
            &[f64::NAN],
            None,
        ));
        self.row(Row::lower_is_better("  p99 (ms)", &[b.list_p99], &[f64::NAN], None));
        for (page, times) in &b.portal {
            let name = match page.strip_prefix("  ") {
                Some(sub) => format!("  {sub} (ms)"),
                None => format!("portal: {page} (ms)"),
            };
            self.row(Row::lower_is_better(&name, times, &[f64::NAN], None));
        }
    }

    pub fn gc(&mut self, runs: Vec<GcRun>) {
        self.gc = runs;
    }

    /// The collections under load; distribution has no online collection to compare with.
    fn print_gc(&self) {
        println!();
        println!(
            "Online garbage collection (Berth only: distribution collects offline), 8 clients pushing 1 KiB blobs:"
        );
        println!();
        println!("| storage | garbage | run (s) | freed | pushes/s without GC | pushes/s during GC | pushes slowed |");
        println!("|---|---|---|---|---|---|---|");
        for g in &self.gc {
            println!(
                "| {} | {} blobs + {} deleted artifacts | {} | {} | {} | {} | {:.0}% |",
                g.backend,
                g.blobs,
                g.artifacts,
                fmt(g.seconds),
                g.freed,
                fmt(g.without),
                fmt(g.during),
                100.0 * (1.0 - g.during / g.without)
            );
        }
    }

    pub fn print(&self) {
        if !self.rows.is_empty() {
            self.print_table();
        }
        if !self.gc.is_empty() {
            self.print_gc();
        }
        println!();
        let mut summary: Vec<String> = self
            .rows
            .iter()
            .filter(|r| !r.name.starts_with(' ') && !r.ratio().is_nan())
            .map(|r| format!("{} {:.2}×", r.name.split(" (").next().unwrap_or(&r.name), r.ratio()))
            .collect();
        summary.extend(self.gc.iter().map(|g| {
            format!(
                "gc on {} {} s, pushes slowed {:.0}%",
                g.backend,
                fmt(g.seconds),
                100.0 * (1.0 - g.during / g.without)
            )
        }));
        println!("summary (berth advantage over distribution): {}", summary.join("; "));
    }

    fn print_table(&self) {
        println!();
        println!("Limits measured in this run:");
        for l in &self.limit_lines {
            println!("  {l}");
        }
        println!();
        println!("| workload | berth | distribution | berth advantage | berth % of limit |");
        println!("|---|---|---|---|---|");
        for r in &self.rows {
            let pct = r.limit.map(|l| format!("{:.0}%", 100.0 * median(&r.berth) / l)).unwrap_or_default();
            let ratio = r.ratio();
            let ratio = if ratio.is_nan() { String::new() } else { format!("{ratio:.2}×") };
            println!(
                "| {} | {}{} | {}{} | {} | {} |",
                r.name,
                fmt(median(&r.berth)),
                spread(&r.berth),
                fmt(median(&r.dist)),
                spread(&r.dist),
                ratio,
                pct
            );
        }
    }
}
