//! Schedules of periodic system jobs in Harbor's shape (the audit log purge now; garbage
//! collection will use the same): a type (`None`, `Hourly`, `Daily`, `Weekly`, `Custom` with a
//! six-field cron, seconds first) and the job each run enqueues. Every instance's scheduler looks
//! at the schedules; a run is keyed by its kind and time, so it is enqueued once cluster-wide.

use berth_meta::{Meta, NewJob};
use croner::Cron;
use croner::parser::{CronParser, Seconds};

/// Runs due longer ago than this are not caught up (an instance was down, or the schedule is new).
const CATCH_UP_SECS: i64 = 3600;

/// A checked schedule: its type and its cron (empty for `None`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Schedule {
    pub schedule_type: &'static str,
    pub cron: String,
}

/// Checks a cron expression in Harbor's six-field form (seconds first).
pub fn parse_cron(expression: &str) -> Result<Cron, String> {
    let parser = CronParser::builder().seconds(Seconds::Required).build();
    parser.parse(expression).map_err(|e| format!("invalid cron {expression:?}: {e}"))
}

impl Schedule {
    pub fn hourly() -> Schedule {
        Schedule { schedule_type: "Hourly", cron: "0 0 * * * *".into() }
    }

    /// An administrator's schedule: a known type (Harbor's `Schedule` is read as `Custom`),
    /// and for `Custom` a valid cron. The preset types take their own cron.
    pub fn new(schedule_type: &str, cron: &str) -> Result<Schedule, String> {
        let preset = |t, c: &str| Ok(Schedule { schedule_type: t, cron: c.to_owned() });
        match schedule_type {
            "None" => preset("None", ""),
            "Hourly" => Ok(Schedule::hourly()),
            "Daily" => preset("Daily", "0 0 0 * * *"),
            "Weekly" => preset("Weekly", "0 0 0 * * 0"),
            "Custom" | "Schedule" => {
                parse_cron(cron)?;
                preset("Custom", cron)
            }
            other => {
                Err(format!("unknown schedule type {other:?}: one of None, Hourly, Daily, Weekly, Custom, Manual"))
            }
        }
    }

    fn cron(&self) -> Option<Cron> {
        (self.schedule_type != "None").then(|| parse_cron(&self.cron).ok()).flatten()
    }

    /// The first run after `after` (unix seconds); `None` if the schedule never runs.
    pub fn next_after(&self, after: i64) -> Option<i64> {
        let after = chrono::DateTime::from_timestamp(after, 0)?;
        Some(self.cron()?.find_next_occurrence(&after, false).ok()?.timestamp())
    }

    /// The latest run due at `now` or before, if it is due since `since` and within the last hour.
    pub fn due(&self, since: i64, now: i64) -> Option<i64> {
        let at = chrono::DateTime::from_timestamp(now, 0)?;
        let due = self.cron()?.find_previous_occurrence(&at, true).ok()?.timestamp();
        (due >= since.max(now - CATCH_UP_SECS)).then_some(due)
    }

    /// Enqueues `job` for the run due now, if any (`since`: when the schedule was set), once
    /// however many instances ask. Its id, if this call added it.
    pub async fn enqueue_due(&self, meta: &Meta, job: NewJob, since: i64) -> berth_meta::Result<Option<i64>> {
        let Some(due) = self.due(since, berth_meta::time::now()) else { return Ok(None) };
        let key = format!("{}@{due}", job.kind);
        meta.enqueue_job(&job.at(due).once(key)).await
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn types_and_crons() {
        assert_eq!(Schedule::new("Daily", "ignored").unwrap().cron, "0 0 0 * * *");
        assert_eq!(Schedule::new("Custom", "0 */5 * * * *").unwrap().schedule_type, "Custom");
        assert!(Schedule::new("Custom", "*/5 * * * *").is_err(), "five fields are not Harbor's cron");
        assert!(Schedule::new("Custom", "").is_err());
        assert!(Schedule::new("Monthly", "").is_err());
        assert_eq!(Schedule::new("None", "").unwrap().next_after(0), None);
        let hourly = Schedule::hourly();
        assert_eq!(hourly.next_after(7_200), Some(10_800));
        assert_eq!(hourly.due(0, 7_300), Some(7_200));
        assert_eq!(hourly.due(7_250, 7_300), None, "set after the run was due");
    }
}
