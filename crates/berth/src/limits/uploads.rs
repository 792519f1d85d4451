//! Blob upload requests in progress per client. An upload request holds a connection, a body
//! being hashed and written, and (on S3) up to two 8 MiB parts in memory, for as long as its
//! client takes to send it: a client opening hundreds at once would take the memory and the
//! connections of everyone. Past the cap its further ones are answered 429, which registry
//! clients retry after a pause (the client exceeds its own share; 503 is for a server that is
//! full as a whole).

use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// How often a client still being refused is reported in the log.
const REPORT_EVERY: Duration = Duration::from_secs(60);

pub(crate) struct Uploads {
    cap: u32,
    counts: Arc<Mutex<Counts>>,
}

#[derive(Default)]
struct Counts {
    /// Only clients with uploads in progress: an entry goes with its last one.
    in_progress: HashMap<IpAddr, u32>,
    reported: HashMap<IpAddr, Instant>,
}

/// One upload request in progress; it ends when this is dropped.
pub(crate) struct InProgress {
    client: IpAddr,
    counts: Arc<Mutex<Counts>>,
}

impl Uploads {
    /// At most `cap` at once per client; `None` when `cap` is 0 (no limit).
    pub(crate) fn new(cap: u32) -> Option<Uploads> {
        (cap > 0).then(|| Uploads { cap, counts: Arc::default() })
    }

    /// Counts an upload request of `client`, or refuses it (saying whether to report that).
    pub(crate) fn begin(&self, client: IpAddr) -> Result<InProgress, bool> {
        let mut counts = self.counts.lock().expect("upload counts poisoned");
        let count = counts.in_progress.entry(client).or_insert(0);
        if *count >= self.cap {
            let now = Instant::now();
            counts.reported.retain(|_, at| now.duration_since(*at) < REPORT_EVERY);
            return Err(counts.reported.insert(client, now).is_none());
        }
        *count += 1;
        Ok(InProgress { client, counts: self.counts.clone() })
    }
}

impl Drop for InProgress {
    fn drop(&mut self) {
        let mut counts = self.counts.lock().expect("upload counts poisoned");
        if let Some(count) = counts.in_progress.get_mut(&self.client) {
            *count -= 1;
            if *count == 0 {
                counts.in_progress.remove(&self.client);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_cap_per_client_released_as_uploads_end() {
        let uploads = Uploads::new(2).unwrap();
        let (a, b): (IpAddr, IpAddr) = ("192.0.2.1".parse().unwrap(), "192.0.2.2".parse().unwrap());
        let first = uploads.begin(a).unwrap();
        let _second = uploads.begin(a).unwrap();
        assert_eq!(uploads.begin(a).err(), Some(true), "refused, and reported");
        assert_eq!(uploads.begin(a).err(), Some(false), "reported once a minute");
        let _other = uploads.begin(b).unwrap();
        drop(first);
        let _third = uploads.begin(a).unwrap();
        drop((_second, _third, _other));
        assert!(uploads.counts.lock().unwrap().in_progress.is_empty(), "nothing kept for idle clients");
        assert!(Uploads::new(0).is_none());
    }
}
