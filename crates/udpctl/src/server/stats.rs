//! Counters of what the server did: atomics while serving, a [`ServerStats`] snapshot for tests
//! and logs.

use std::sync::atomic::{AtomicU64, Ordering};

/// Counters of what the server did (for tests and logs).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct ServerStats {
    /// Connections accepted (handled on a thread).
    pub accepted: u64,
    /// Connections refused because too many were open (in all, or from that source).
    pub refused: u64,
    /// Connections refused because their source is blocked after failed tokens.
    pub throttled: u64,
    /// Requests with a missing or wrong token.
    pub auth_failures: u64,
    /// Rejections not passed to the observer (log rate limit).
    pub log_suppressed: u64,
    /// Connections answered with an error.
    pub rejected: u64,
    /// Connections dropped for sending nothing (or too little) in time.
    pub timed_out: u64,
    /// Runs that completed with a receiver report.
    pub runs_completed: u64,
    /// Runs that failed.
    pub runs_failed: u64,
}

/// The live counters behind [`ServerStats`].
#[derive(Default)]
pub(super) struct Counters {
    pub(super) accepted: AtomicU64,
    pub(super) refused: AtomicU64,
    pub(super) throttled: AtomicU64,
    pub(super) auth_failures: AtomicU64,
    pub(super) log_suppressed: AtomicU64,
    pub(super) rejected: AtomicU64,
    pub(super) timed_out: AtomicU64,
    pub(super) runs_completed: AtomicU64,
    pub(super) runs_failed: AtomicU64,
}

impl Counters {
    /// The counters now.
    pub(super) fn snapshot(&self) -> ServerStats {
        ServerStats {
            accepted: self.accepted.load(Ordering::Relaxed),
            refused: self.refused.load(Ordering::Relaxed),
            throttled: self.throttled.load(Ordering::Relaxed),
            auth_failures: self.auth_failures.load(Ordering::Relaxed),
            log_suppressed: self.log_suppressed.load(Ordering::Relaxed),
            rejected: self.rejected.load(Ordering::Relaxed),
            timed_out: self.timed_out.load(Ordering::Relaxed),
            runs_completed: self.runs_completed.load(Ordering::Relaxed),
            runs_failed: self.runs_failed.load(Ordering::Relaxed),
        }
    }
}
