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

/// The stamp of a loop that reads the clock once per datagram (`recvfrom`): `CLOCK_MONOTONIC`
/// nanoseconds like [`now_ns`], from the CPU's time-stamp counter where the kernel itself keeps
/// time with it.
///
/// Right after a receive call the vDSO's `clock_gettime` costs several percent of a bare
/// `recvfrom` loop here (its data page and the counter read, after the kernel's work), against a
/// third of that for the counter alone (`scripts/twin-cpu.sh`, `c-recvfrom-stamp` against
/// `c-recvfrom-tsc`). The counter is scaled to `CLOCK_MONOTONIC` and re-anchored to it every
/// millisecond or so:
/// - used only when the kernel's clocksource is `tsc` (it has judged the counter invariant and
///   synchronised across CPUs), on x86-64; elsewhere every stamp is [`now_ns`];
/// - calibrated lazily: for its first millisecond a stamp is a `clock_gettime` read (with the
///   counter beside it), no sleep at set-up;
/// - the scale is refined at each re-anchor over the whole time since the first read, so a
///   stamp strays from `CLOCK_MONOTONIC` by at most the scale's error over one millisecond
///   (tens of ns at the first re-anchor, less afterwards);
/// - stamps never go back (each is at least the one before).
#[derive(Debug)]
pub(crate) struct StampClock {
    tsc: Option<Tsc>,
}

impl StampClock {
    /// Uses the counter when the kernel's clocksource is `tsc` (read once here).
    pub(crate) fn new() -> StampClock {
        let source = std::fs::read_to_string(
            "/sys/devices/system/clocksource/clocksource0/current_clocksource",
        )
        .unwrap_or_default();
        StampClock::with_clocksource(&source)
    }

    /// As [`new`](Self::new) with the kernel's clocksource name given.
    pub(crate) fn with_clocksource(source: &str) -> StampClock {
        let tsc = (cfg!(target_arch = "x86_64") && source.trim() == "tsc").then(Tsc::start);
        StampClock { tsc }
    }

    /// Whether stamps come from the time-stamp counter.
    #[cfg(test)]
    pub(crate) fn uses_tsc(&self) -> bool {
        self.tsc.is_some()
    }

    /// `CLOCK_MONOTONIC` now, in nanoseconds.
    #[inline]
    pub(crate) fn now(&mut self) -> u64 {
        match &mut self.tsc {
            Some(t) if t.usable => t.now(),
            _ => now_ns(Clock::Monotonic),
        }
    }
}

/// Re-anchor after about this long (ns).
const REANCHOR_NS: u64 = 1_000_000;

/// The counter's scale and anchors.
#[derive(Debug)]
struct Tsc {
    /// The first read: the scale's baseline.
    base_ns: u64,
    base_tsc: u64,
    anchor_ns: u64,
    anchor_tsc: u64,
    /// Nanoseconds per tick, 32.32 fixed point; 0 until calibrated.
    mult: u64,
    /// Ticks between re-anchors (about REANCHOR_NS); until calibrated, stamps are
    /// `clock_gettime` reads.
    reanchor_ticks: u64,
    last: u64,
    /// False once a calibration found a scale it cannot use: stamps are `clock_gettime` reads.
    usable: bool,
}

impl Tsc {
    fn start() -> Tsc {
        let (ns, tsc) = read_pair();
        Tsc {
            base_ns: ns,
            base_tsc: tsc,
            anchor_ns: ns,
            anchor_tsc: tsc,
            mult: 0,
            reanchor_ticks: 0,
            last: ns,
            usable: true,
        }
    }

    #[inline]
    fn now(&mut self) -> u64 {
        let d = rdtsc().wrapping_sub(self.anchor_tsc);
        // A counter behind its anchor wraps to a huge `d` and re-anchors too.
        if d >= self.reanchor_ticks {
            return self.reanchor();
        }
        // d < reanchor_ticks, so d * mult is about REANCHOR_NS << 32: no overflow.
        let ns = (self.anchor_ns + (d.wrapping_mul(self.mult) >> 32)).max(self.last);
        self.last = ns;
        ns
    }

    /// A `clock_gettime` read: the new anchor, and the scale over the time since the first
    /// read (the calibration, once a millisecond has passed).
    #[cold]
    #[inline(never)]
    fn reanchor(&mut self) -> u64 {
        let (ns, tsc) = read_pair();
        let (dn, dt) = (ns.saturating_sub(self.base_ns), tsc.wrapping_sub(self.base_tsc));
        if dn >= REANCHOR_NS && dt > 0 && dt < 1 << 62 {
            let mult = ((dn as u128) << 32) / dt as u128;
            // A counter slower than 1 tick per 8 ns, or a scale that would overflow within
            // one re-anchor period, is not used: stamps stay `clock_gettime` reads.
            if mult > 0 && mult <= 8 << 32 {
                self.mult = mult as u64;
                self.reanchor_ticks = ((REANCHOR_NS as u128) << 32).div_ceil(mult) as u64;
            } else {
                self.usable = false;
            }
        }
        self.anchor_ns = ns;
        self.anchor_tsc = tsc;
        let ns = ns.max(self.last);
        self.last = ns;
        ns
    }
}

/// `CLOCK_MONOTONIC` and the counter read as close together as three tries allow (the pair
/// whose counter reads around the clock read are nearest; the counter value is their middle).
fn read_pair() -> (u64, u64) {
    let mut best = (u64::MAX, 0, 0);
    for _ in 0..3 {
        let a = rdtsc();
        let ns = now_ns(Clock::Monotonic);
        let b = rdtsc();
        let w = b.wrapping_sub(a);
        if w < best.0 {
            best = (w, ns, a.wrapping_add(w / 2));
        }
    }
    (best.1, best.2)
}

/// The time-stamp counter (0 where there is none; then [`StampClock`] never uses it).
#[inline]
fn rdtsc() -> u64 {
    #[cfg(target_arch = "x86_64")]
    {
        // SAFETY: RDTSC reads a register; it has no memory effects and exists on every x86-64.
        unsafe { core::arch::x86_64::_rdtsc() }
    }
    #[cfg(not(target_arch = "x86_64"))]
    {
        0
    }
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

    /// Stamps over 60 ms (calibration, many re-anchors) never go back and stay within 20 µs of
    /// `clock_gettime` read around each (a wrong scale, e.g. per tick instead of per
    /// nanosecond, would stray by milliseconds; being preempted only widens the window).
    #[test]
    fn stamps_follow_clock_monotonic() {
        for source in ["tsc\n", "kvm-clock\n"] {
            let mut c = StampClock::with_clocksource(source);
            assert_eq!(c.uses_tsc(), cfg!(target_arch = "x86_64") && source == "tsc\n");
            let t0 = now_ns(Clock::Monotonic);
            let mut last = 0;
            let mut n = 0u64;
            while now_ns(Clock::Monotonic) - t0 < 60_000_000 {
                let m0 = now_ns(Clock::Monotonic);
                let s = c.now();
                let m1 = now_ns(Clock::Monotonic);
                assert!(s >= last, "{source}: went back: {s} after {last}");
                assert!(
                    s + 20_000 >= m0 && s <= m1 + 20_000,
                    "{source}: stamp {s} outside [{m0}, {m1}] +- 20 us"
                );
                last = s;
                n += 1;
                if n.is_multiple_of(1000) {
                    std::thread::sleep(std::time::Duration::from_micros(300));
                }
            }
        }
    }
}
