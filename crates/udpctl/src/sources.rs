//! Per-source bookkeeping of the control server: open connections and failed tokens, in a small
//! table of fixed capacity keyed by source address, and a rate limit on what gets logged.
//!
//! A source is an IPv4 address, or an IPv6 /64 (one host usually owns a whole /64, so keying by
//! full IPv6 address would let one host look like billions of sources). The table never grows
//! past its capacity: when it is full, the least recently seen source without an open
//! connection is forgotten (with its failure count: a peer rotating through more sources than
//! the table holds escapes the backoff, which the global connection limit still bounds).

use std::net::IpAddr;
use std::time::{Duration, Instant};

/// How failed tokens slow a source down.
///
/// After `free_failures` consecutive failures, every further failure blocks the source for
/// `base`, then twice as long for each more, at most `max`; while blocked, its connections are
/// refused (`throttled`) before anything is read. A correct token clears the count; so does
/// `forget_after` without a failure.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Backoff {
    /// Consecutive failures allowed before the first block (typos happen).
    pub free_failures: u32,
    /// First block.
    pub base: Duration,
    /// Longest block.
    pub max: Duration,
    /// A source's failure count is reset after this long without a failure.
    pub forget_after: Duration,
}

impl Default for Backoff {
    fn default() -> Self {
        Backoff {
            free_failures: 3,
            base: Duration::from_millis(200),
            max: Duration::from_secs(10),
            forget_after: Duration::from_secs(600),
        }
    }
}

impl Backoff {
    /// The block after the `failures`-th consecutive failure (`None`: not blocked yet).
    pub fn block_after(&self, failures: u32) -> Option<Duration> {
        let over = failures.checked_sub(self.free_failures)?.checked_sub(1)?;
        let factor = 1u32 << over.min(20);
        Some(self.base.saturating_mul(factor).min(self.max))
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Key {
    V4(u32),
    V6Net(u64),
}

fn key(ip: IpAddr) -> Key {
    match ip.to_canonical() {
        IpAddr::V4(a) => Key::V4(a.into()),
        IpAddr::V6(a) => Key::V6Net((u128::from(a) >> 64) as u64),
    }
}

#[derive(Debug, Clone, Copy)]
struct Slot {
    key: Key,
    open: u32,
    failures: u32,
    last_failure: Option<Instant>,
    blocked_until: Option<Instant>,
    last_seen: Instant,
}

/// Whether a new connection from a source may go on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Admit {
    /// Yes; [`SourceTable::release`] it when it closes.
    Yes,
    /// The source is blocked for this much longer after failed tokens.
    Throttled(Duration),
    /// The source already has its share of connections open.
    PerSource,
    /// Every slot of the table holds a source with open connections.
    TableFull,
}

/// Open connections and failed tokens per source, in at most `capacity` slots.
#[derive(Debug)]
pub(crate) struct SourceTable {
    slots: Vec<Slot>,
    capacity: usize,
    per_source: u32,
    backoff: Backoff,
}

impl SourceTable {
    /// A table of `capacity` sources (allocated once), `per_source` connections each.
    pub(crate) fn new(capacity: usize, per_source: usize, backoff: Backoff) -> Self {
        let capacity = capacity.max(1);
        SourceTable {
            slots: Vec::with_capacity(capacity),
            capacity,
            per_source: u32::try_from(per_source).unwrap_or(u32::MAX).max(1),
            backoff,
        }
    }

    fn find(&self, k: Key) -> Option<usize> {
        self.slots.iter().position(|s| s.key == k)
    }

    /// A slot for `k`: its own, a fresh one, or the least recently seen idle source's.
    fn slot_for(&mut self, k: Key, now: Instant) -> Option<usize> {
        if let Some(i) = self.find(k) {
            return Some(i);
        }
        let fresh = Slot {
            key: k,
            open: 0,
            failures: 0,
            last_failure: None,
            blocked_until: None,
            last_seen: now,
        };
        if self.slots.len() < self.capacity {
            self.slots.push(fresh);
            return Some(self.slots.len() - 1);
        }
        // Evict an idle source: unblocked ones first, then the least recently seen.
        let victim = self
            .slots
            .iter()
            .enumerate()
            .filter(|(_, s)| s.open == 0)
            .min_by_key(|(_, s)| (s.blocked_until.is_some_and(|t| t > now), s.last_seen))
            .map(|(i, _)| i)?;
        self.slots[victim] = fresh;
        Some(victim)
    }

    /// Counts a new connection from `ip`, unless the source is blocked or at its limit.
    pub(crate) fn admit(&mut self, ip: IpAddr, now: Instant) -> Admit {
        let Some(i) = self.slot_for(key(ip), now) else {
            return Admit::TableFull;
        };
        let forget_after = self.backoff.forget_after;
        let s = &mut self.slots[i];
        s.last_seen = now;
        if s.last_failure.is_some_and(|t| now.saturating_duration_since(t) >= forget_after) {
            s.failures = 0;
            s.last_failure = None;
        }
        if let Some(until) = s.blocked_until {
            if until > now {
                return Admit::Throttled(until - now);
            }
            s.blocked_until = None;
        }
        if s.open >= self.per_source {
            return Admit::PerSource;
        }
        s.open += 1;
        Admit::Yes
    }

    /// A connection [admitted](Self::admit) from `ip` closed.
    pub(crate) fn release(&mut self, ip: IpAddr) {
        if let Some(i) = self.find(key(ip)) {
            self.slots[i].open = self.slots[i].open.saturating_sub(1);
        }
    }

    /// `ip` gave a wrong or no token; returns the block that starts now, if any.
    pub(crate) fn auth_failed(&mut self, ip: IpAddr, now: Instant) -> Option<Duration> {
        let i = self.slot_for(key(ip), now)?;
        let s = &mut self.slots[i];
        s.failures = s.failures.saturating_add(1);
        s.last_failure = Some(now);
        let block = self.backoff.block_after(s.failures)?;
        s.blocked_until = Some(now + block);
        Some(block)
    }

    /// `ip` gave the right token: its failures are forgiven.
    pub(crate) fn auth_ok(&mut self, ip: IpAddr) {
        if let Some(i) = self.find(key(ip)) {
            let s = &mut self.slots[i];
            s.failures = 0;
            s.last_failure = None;
            s.blocked_until = None;
        }
    }
}

/// A token bucket for log lines: at most `burst` at once, `per_sec` on average; what it holds
/// back is counted and reported with the next line that passes.
#[derive(Debug)]
pub(crate) struct LogLimiter {
    tokens: f64,
    burst: f64,
    per_sec: f64,
    last: Instant,
    suppressed: u64,
}

impl LogLimiter {
    /// A limiter that starts full.
    pub(crate) fn new(per_sec: f64, burst: u32) -> Self {
        let burst = f64::from(burst.max(1));
        LogLimiter { tokens: burst, burst, per_sec, last: Instant::now(), suppressed: 0 }
    }

    /// `Some(n)`: log this event, mentioning the `n` held back since the last one; `None`:
    /// hold it back.
    pub(crate) fn admit(&mut self, now: Instant) -> Option<u64> {
        let dt = now.saturating_duration_since(self.last).as_secs_f64();
        self.last = now;
        self.tokens = (self.tokens + dt * self.per_sec).min(self.burst);
        if self.tokens >= 1.0 {
            self.tokens -= 1.0;
            Some(std::mem::take(&mut self.suppressed))
        } else {
            self.suppressed += 1;
            None
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ip(s: &str) -> IpAddr {
        s.parse().unwrap()
    }

    #[test]
    fn backoff_doubles_up_to_the_cap() {
        let b = Backoff::default();
        let blocks: Vec<_> = (1..=12).map(|n| b.block_after(n)).collect();
        assert_eq!(&blocks[..3], &[None, None, None]);
        assert_eq!(blocks[3], Some(Duration::from_millis(200)));
        assert_eq!(blocks[4], Some(Duration::from_millis(400)));
        assert_eq!(blocks[11], Some(Duration::from_secs(10)));
        assert_eq!(b.block_after(u32::MAX), Some(Duration::from_secs(10)));
    }

    #[test]
    fn per_source_limit_and_release() {
        let mut t = SourceTable::new(4, 2, Backoff::default());
        let now = Instant::now();
        assert_eq!(t.admit(ip("127.0.0.2"), now), Admit::Yes);
        assert_eq!(t.admit(ip("127.0.0.2"), now), Admit::Yes);
        assert_eq!(t.admit(ip("127.0.0.2"), now), Admit::PerSource);
        assert_eq!(t.admit(ip("::ffff:127.0.0.2"), now), Admit::PerSource, "mapped = v4");
        assert_eq!(t.admit(ip("127.0.0.1"), now), Admit::Yes, "other sources unaffected");
        t.release(ip("127.0.0.2"));
        assert_eq!(t.admit(ip("127.0.0.2"), now), Admit::Yes);
        // One IPv6 /64 is one source.
        assert_eq!(t.admit(ip("2001:db8::1"), now), Admit::Yes);
        assert_eq!(t.admit(ip("2001:db8::2"), now), Admit::Yes);
        assert_eq!(t.admit(ip("2001:db8::3"), now), Admit::PerSource);
    }

    #[test]
    fn table_is_bounded_and_evicts_idle_sources() {
        let mut t = SourceTable::new(3, 8, Backoff::default());
        let now = Instant::now();
        for i in 1..=3 {
            assert_eq!(t.admit(ip(&format!("198.18.0.{i}")), now), Admit::Yes);
        }
        assert_eq!(t.admit(ip("198.18.0.9"), now), Admit::TableFull);
        t.release(ip("198.18.0.2"));
        assert_eq!(t.admit(ip("198.18.0.9"), now), Admit::Yes, "idle source evicted");
        for i in 0..10_000u32 {
            t.release(IpAddr::from(i.to_be_bytes()));
            let _ = t.admit(IpAddr::from(i.to_be_bytes()), now);
            t.release(IpAddr::from(i.to_be_bytes()));
        }
        assert!(t.slots.len() <= 3, "never grows");
    }

    #[test]
    fn failed_tokens_block_then_success_forgives() {
        let b = Backoff {
            free_failures: 1,
            base: Duration::from_millis(100),
            max: Duration::from_millis(400),
            forget_after: Duration::from_secs(60),
        };
        let mut t = SourceTable::new(8, 8, b);
        let a = ip("192.0.2.7");
        let t0 = Instant::now();
        assert_eq!(t.auth_failed(a, t0), None);
        assert_eq!(t.auth_failed(a, t0), Some(Duration::from_millis(100)));
        assert!(matches!(t.admit(a, t0), Admit::Throttled(_)));
        assert_eq!(t.admit(ip("192.0.2.8"), t0), Admit::Yes, "only that source");
        let later = t0 + Duration::from_millis(150);
        assert_eq!(t.admit(a, later), Admit::Yes, "block over");
        assert_eq!(t.auth_failed(a, later), Some(Duration::from_millis(200)));
        assert_eq!(t.auth_failed(a, later), Some(Duration::from_millis(400)));
        assert_eq!(t.auth_failed(a, later), Some(Duration::from_millis(400)), "capped");
        t.auth_ok(a);
        assert_eq!(t.admit(a, later), Admit::Yes);
        assert_eq!(t.auth_failed(a, later), None, "count cleared");
        // Forgotten after a quiet spell.
        assert_eq!(t.auth_failed(a, later), Some(Duration::from_millis(100)));
        let quiet = later + Duration::from_secs(61);
        assert_eq!(t.admit(a, quiet), Admit::Yes);
        assert_eq!(t.auth_failed(a, quiet), None);
    }

    #[test]
    fn log_limiter_counts_what_it_holds_back() {
        let mut l = LogLimiter::new(2.0, 3);
        let t0 = Instant::now();
        let passed: Vec<_> = (0..10).map(|_| l.admit(t0)).collect();
        assert_eq!(&passed[..3], &[Some(0), Some(0), Some(0)]);
        assert!(passed[3..].iter().all(Option::is_none));
        assert_eq!(l.admit(t0 + Duration::from_secs(1)), Some(7));
    }
}
