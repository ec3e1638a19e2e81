//! The clocks that stamp `tx_ns` and that receivers compare it against.

/// Which clock a timestamp was read from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub enum Clock {
    /// `CLOCK_MONOTONIC`: comparable between processes on one host only.
    #[default]
    Monotonic,
    /// `CLOCK_REALTIME`: comparable across hosts whose clocks are synchronised (chrony, PTP).
    Realtime,
}

impl Clock {
    /// The name used on command lines and in reports.
    pub fn as_str(self) -> &'static str {
        match self {
            Clock::Monotonic => "monotonic",
            Clock::Realtime => "realtime",
        }
    }

    fn id(self) -> libc::clockid_t {
        match self {
            Clock::Monotonic => libc::CLOCK_MONOTONIC,
            Clock::Realtime => libc::CLOCK_REALTIME,
        }
    }
}

impl std::str::FromStr for Clock {
    type Err = String;
    fn from_str(s: &str) -> Result<Clock, String> {
        match s {
            "monotonic" => Ok(Clock::Monotonic),
            "realtime" => Ok(Clock::Realtime),
            other => Err(format!("unknown clock '{other}' (expected monotonic or realtime)")),
        }
    }
}

impl std::fmt::Display for Clock {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Reads `clock` in nanoseconds (vDSO, no syscall on common kernels).
#[inline]
pub fn now_ns(clock: Clock) -> u64 {
    let mut ts = libc::timespec { tv_sec: 0, tv_nsec: 0 };
    // SAFETY: `ts` is a valid, writable timespec and both clock ids exist on every Linux kernel.
    let rc = unsafe { libc::clock_gettime(clock.id(), &mut ts) };
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
        assert!(b >= a);
        assert!(now_ns(Clock::Realtime) > 1_600_000_000_000_000_000);
    }

    #[test]
    fn names_round_trip() {
        for c in [Clock::Monotonic, Clock::Realtime] {
            assert_eq!(c.as_str().parse::<Clock>(), Ok(c));
        }
        assert!("tai".parse::<Clock>().is_err());
    }
}

/// CPU time (user + system) consumed so far by the calling thread, in nanoseconds.
#[inline]
pub fn thread_cpu_ns() -> u64 {
    cputime(libc::CLOCK_THREAD_CPUTIME_ID)
}

/// CPU time (user + system) consumed so far by the whole process, in nanoseconds.
#[inline]
pub fn process_cpu_ns() -> u64 {
    cputime(libc::CLOCK_PROCESS_CPUTIME_ID)
}

fn cputime(id: libc::clockid_t) -> u64 {
    let mut ts = libc::timespec { tv_sec: 0, tv_nsec: 0 };
    // SAFETY: `ts` is a valid, writable timespec; the CPU-time clock ids exist on every Linux.
    let rc = unsafe { libc::clock_gettime(id, &mut ts) };
    debug_assert_eq!(rc, 0);
    ts.tv_sec as u64 * 1_000_000_000 + ts.tv_nsec as u64
}

#[cfg(test)]
mod cpu_tests {
    use super::*;

    #[test]
    fn cpu_time_advances_with_work() {
        let t0 = thread_cpu_ns();
        let mut x = 0u64;
        for i in 0..5_000_000u64 {
            x = x.wrapping_mul(31).wrapping_add(i);
        }
        std::hint::black_box(x);
        assert!(thread_cpu_ns() > t0);
        assert!(process_cpu_ns() >= thread_cpu_ns());
    }
}
