//! A token bucket per client (GCRA: one instant per client, the theoretical arrival time of its
//! next request), in memory. A small map of our own rather than a rate-limiting crate: it is a
//! few lines, it holds exactly what a 429 needs (how long to wait) and what the log needs (when
//! a client was last reported), and it bounds its size, which a keyed limiter left to grow with
//! every address that ever called would not. Per instance: N instances behind a load balancer
//! allow up to N times the rate, which for flood protection is the point (each instance
//! protects its own CPU), and costs no database write per request.

use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::Mutex;
use std::time::{Duration, Instant};

/// Clients remembered at most. A client whose bucket is full again is forgotten first (it is
/// then as if new); past this with every bucket in use, new clients go uncounted rather than
/// refused, so a spray of addresses cannot lock out the clients it did not use.
const MAX_CLIENTS: usize = 65_536;
/// How often a client still being refused is reported in the log.
const REPORT_EVERY: Duration = Duration::from_secs(60);

pub(crate) struct Buckets {
    /// The time one request's token takes to come back.
    interval: Duration,
    /// How far a client's next arrival may run ahead of now: the burst, less the request itself.
    tolerance: Duration,
    clients: Mutex<HashMap<IpAddr, Client>>,
}

struct Client {
    next_arrival: Instant,
    reported: Option<Instant>,
}

/// A refused request: how long until one would pass, and whether to say so in the log.
#[derive(Debug)]
pub(crate) struct Refusal {
    pub wait: Duration,
    pub report: bool,
}

impl Buckets {
    /// `rate` requests per `period`, `burst` at once; `None` when `rate` is 0 (no limit).
    pub(crate) fn new(rate: u32, period: Duration, burst: u32) -> Option<Buckets> {
        let interval = period.checked_div(rate)?;
        let tolerance = interval.saturating_mul(burst.max(1) - 1);
        Some(Buckets { interval, tolerance, clients: Mutex::default() })
    }

    /// Takes a token of `client`'s bucket at `now`, or says how long until there is one.
    pub(crate) fn take(&self, client: IpAddr, now: Instant) -> Result<(), Refusal> {
        let mut clients = self.clients.lock().expect("buckets poisoned");
        if clients.len() >= MAX_CLIENTS && !clients.contains_key(&client) {
            clients.retain(|_, c| c.next_arrival > now);
            if clients.len() >= MAX_CLIENTS {
                return Ok(());
            }
        }
        let entry = clients.entry(client).or_insert(Client { next_arrival: now, reported: None });
        let arrival = entry.next_arrival.max(now);
        let ahead = arrival - now;
        if ahead > self.tolerance {
            let report = entry.reported.is_none_or(|at| now.duration_since(at) >= REPORT_EVERY);
            if report {
                entry.reported = Some(now);
            }
            return Err(Refusal { wait: ahead - self.tolerance, report });
        }
        entry.next_arrival = arrival + self.interval;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const A: IpAddr = IpAddr::V4(std::net::Ipv4Addr::new(192, 0, 2, 1));
    const B: IpAddr = IpAddr::V4(std::net::Ipv4Addr::new(192, 0, 2, 2));

    #[test]
    fn a_burst_then_the_rate() {
        let buckets = Buckets::new(60, Duration::from_secs(60), 3).unwrap();
        let t0 = Instant::now();
        for _ in 0..3 {
            assert!(buckets.take(A, t0).is_ok());
        }
        let refused = buckets.take(A, t0).unwrap_err();
        assert_eq!(refused.wait, Duration::from_secs(1));
        assert!(refused.report);
        assert!(!buckets.take(A, t0).unwrap_err().report, "reported once a minute, not per request");
        assert!(buckets.take(B, t0).is_ok(), "another client has its own bucket");
        assert!(buckets.take(A, t0 + Duration::from_secs(1)).is_ok());
        assert!(buckets.take(A, t0 + Duration::from_secs(1)).is_err());
        // After a quiet while the whole burst is back, no more.
        let later = t0 + Duration::from_secs(100);
        for _ in 0..3 {
            assert!(buckets.take(A, later).is_ok());
        }
        assert!(buckets.take(A, later).is_err());
    }

    #[test]
    fn zero_is_no_limit() {
        assert!(Buckets::new(0, Duration::from_secs(1), 10).is_none());
    }

    #[test]
    fn the_map_stays_bounded() {
        let buckets = Buckets::new(1, Duration::from_secs(3600), 1).unwrap();
        let now = Instant::now();
        for i in 0..MAX_CLIENTS as u32 {
            buckets.take(IpAddr::V4(i.into()), now).unwrap();
        }
        // Every bucket is in use: a new client is let through uncounted, the map does not grow.
        let newcomer = IpAddr::V4(u32::MAX.into());
        assert!(buckets.take(newcomer, now).is_ok());
        assert!(buckets.take(newcomer, now).is_ok());
        assert_eq!(buckets.clients.lock().unwrap().len(), MAX_CLIENTS);
        // Once buckets refill, their clients are forgotten to make room.
        let later = now + Duration::from_secs(7200);
        assert!(buckets.take(newcomer, later).is_ok());
        assert!(buckets.take(newcomer, later).is_err());
        assert_eq!(buckets.clients.lock().unwrap().len(), 1);
    }
}
