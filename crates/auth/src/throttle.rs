//! The login throttle's policy. Failures are counted per (account name, client address) in the
//! database (`login_failures`), shared by every instance: a guesser is slowed down wherever the
//! load balancer sends them, while the account's owner, from any other address, is never
//! refused the right password. After [`FREE_FAILURES`] failures each further one blocks that
//! name from that address for twice as long as the last (1 s, 2 s, 4 s … up to [`MAX_DELAY`]);
//! attempts while blocked are answered `429` with `Retry-After`, without checking the password.

use std::net::IpAddr;
use std::time::Duration;

/// Failures from one address for one name that cost nothing but the answer.
pub const FREE_FAILURES: i64 = 5;
const FIRST_DELAY: Duration = Duration::from_secs(1);
pub const MAX_DELAY: Duration = Duration::from_secs(5 * 60);
/// Failures older than this (since the last one) are forgotten.
pub const FORGET_AFTER: Duration = Duration::from_secs(3600);

/// The client's address as the server determined it, put into each request's extensions by the
/// application's limits layer; the login throttle and the rate limits count by it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ClientAddr(pub IpAddr);

impl ClientAddr {
    /// What limits count by: an IPv6 client by its /64 network, which one host commonly holds
    /// whole (counting by address would give it 2^64 tries).
    pub fn bucket(self) -> IpAddr {
        match self.0 {
            IpAddr::V6(v6) => match v6.to_ipv4_mapped() {
                Some(v4) => IpAddr::V4(v4),
                None => IpAddr::V6((u128::from(v6) & !((1u128 << 64) - 1)).into()),
            },
            v4 => v4,
        }
    }
}

/// The throttle's key for a client: its bucket, or `unknown` when the server knows no address
/// (a router run without `serve`), so such clients share one count rather than none.
pub(crate) fn source_key(client: Option<ClientAddr>) -> String {
    client.map_or_else(|| "unknown".to_owned(), |c| c.bucket().to_string())
}

/// How long the `failures`-th consecutive failure blocks further attempts, if at all.
pub(crate) fn delay(failures: i64) -> Option<Duration> {
    let beyond = failures.checked_sub(FREE_FAILURES).filter(|n| *n >= 0)?;
    let doubled = FIRST_DELAY.saturating_mul(1u32.checked_shl(beyond.min(31) as u32).unwrap_or(u32::MAX));
    Some(doubled.min(MAX_DELAY))
}

/// A `Retry-After` value for a wait: whole seconds, rounded up, at least one.
pub fn retry_after_secs(wait: Duration) -> u64 {
    (wait.as_secs() + u64::from(wait.subsec_nanos() > 0)).max(1)
}

/// What is left of a block until `blocked_until` at `now` (unix milliseconds), if anything.
pub(crate) fn remaining(blocked_until: i64, now: i64) -> Option<Duration> {
    (blocked_until > now).then(|| Duration::from_millis((blocked_until - now) as u64))
}

/// Now, in unix milliseconds: the unit of blocks.
pub(crate) fn now_millis() -> i64 {
    std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(0, |d| d.as_millis() as i64)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn delays_double_from_the_sixth_failure_up_to_the_cap() {
        let secs = |n| delay(n).map(|d| d.as_secs());
        assert_eq!((1..FREE_FAILURES).map(secs).collect::<Vec<_>>(), vec![None; 4]);
        assert_eq!([5, 6, 7, 8].map(secs), [Some(1), Some(2), Some(4), Some(8)]);
        assert_eq!(secs(14), Some(300));
        assert_eq!(secs(i64::MAX), Some(300));
    }

    #[test]
    fn remaining_time() {
        assert_eq!(remaining(100, 100), None);
        assert_eq!(remaining(100, 97), Some(Duration::from_millis(3)));
        assert_eq!(remaining(0, 97), None);
        assert_eq!(retry_after_secs(Duration::from_millis(1500)), 2);
        assert_eq!(retry_after_secs(Duration::ZERO), 1);
    }

    #[test]
    fn ipv6_clients_count_by_network() {
        let a = ClientAddr("2001:db8:1:2:aaaa::1".parse().unwrap());
        let b = ClientAddr("2001:db8:1:2:bbbb::2".parse().unwrap());
        let other = ClientAddr("2001:db8:1:3::1".parse().unwrap());
        assert_eq!(a.bucket(), b.bucket());
        assert_ne!(a.bucket(), other.bucket());
        let mapped = ClientAddr("::ffff:192.0.2.7".parse().unwrap());
        assert_eq!(mapped.bucket().to_string(), "192.0.2.7");
        assert_eq!(source_key(None), "unknown");
    }
}
