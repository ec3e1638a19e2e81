//! The monotonic clock every receive loop stamps batches with (`Batch::rx_ns`).
//!
//! A copy of the one function the engine used from the probe-header crate (`udpprobe`), so that
//! an application depending on `udprx` needs no second crate of this workspace: the values are
//! the same `CLOCK_MONOTONIC` nanoseconds `udpprobe::now_ns(Clock::Monotonic)` returns.

/// Which clock to read. The engine only reads `CLOCK_MONOTONIC`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Clock {
    /// `CLOCK_MONOTONIC`.
    Monotonic,
}

/// Reads `clock` in nanoseconds (vDSO, no system call on common kernels).
#[inline]
pub(crate) fn now_ns(clock: Clock) -> u64 {
    let Clock::Monotonic = clock;
    let mut ts = libc::timespec { tv_sec: 0, tv_nsec: 0 };
    // SAFETY: `ts` is a valid, writable timespec and CLOCK_MONOTONIC exists on every Linux.
    let rc = unsafe { libc::clock_gettime(libc::CLOCK_MONOTONIC, &mut ts) };
    debug_assert_eq!(rc, 0);
    ts.tv_sec as u64 * 1_000_000_000 + ts.tv_nsec as u64
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn monotonic_does_not_go_back() {
        let a = now_ns(Clock::Monotonic);
        let b = now_ns(Clock::Monotonic);
        assert!(a > 0 && b >= a);
    }
}
