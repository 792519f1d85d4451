//! Gauges read at scrape time (from the database, the pools, health checks): a fresh set per
//! reading, so a project that is gone leaves no stale series behind.

use std::collections::HashMap;
use std::sync::atomic::AtomicU64;

use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::registry::Registry;

type Labels = Vec<(&'static str, String)>;

type Value = Gauge<f64, AtomicU64>;

#[derive(Debug, Default)]
pub struct Gauges {
    families: HashMap<&'static str, Family<Labels, Value>>,
    /// Gauges without labels: a family would write them with an empty `{}`.
    single: HashMap<&'static str, Value>,
    registry: Registry,
}

impl Gauges {
    /// Sets gauge `name` with `labels` to `value`; `help` describes the gauge the first time
    /// `name` is set.
    pub fn set(&mut self, name: &'static str, help: &'static str, labels: &[(&'static str, &str)], value: f64) {
        if labels.is_empty() {
            let gauge = self.single.entry(name).or_insert_with(|| {
                let gauge = Value::default();
                self.registry.register(name, help, gauge.clone());
                gauge
            });
            gauge.set(value);
            return;
        }
        let family = self.families.entry(name).or_insert_with(|| {
            let family = Family::default();
            self.registry.register(name, help, family.clone());
            family
        });
        let labels: Labels = labels.iter().map(|&(key, value)| (key, value.to_owned())).collect();
        family.get_or_create(&labels).set(value);
    }

    pub(crate) fn registry(&self) -> &Registry {
        &self.registry
    }
}
