//! The parts of the engine that talk to the kernel directly: socket options, control-message
//! and socket-address decoding, per-thread resource usage and `/proc/net/udp` drop counters;
//! for the XDP paths the `bpf()` system call, rtnetlink and AF_XDP sockets.

pub(crate) mod bpf;
pub(crate) mod cmsg;
pub(crate) mod netlink;
pub(crate) mod proc;
pub(crate) mod socket;
pub(crate) mod xsk;

/// `getrusage(RUSAGE_THREAD)`: user and system CPU time of the calling thread, in ns.
pub(crate) fn thread_rusage() -> (u64, u64) {
    const RUSAGE_THREAD: libc::c_int = 1;
    // SAFETY: all-zero is a valid `rusage` (plain integers and timevals).
    let mut ru: libc::rusage = unsafe { std::mem::zeroed() };
    // SAFETY: `ru` is a valid, writable rusage; RUSAGE_THREAD exists since Linux 2.6.26.
    let rc = unsafe { libc::getrusage(RUSAGE_THREAD, &mut ru) };
    if rc != 0 {
        return (0, 0);
    }
    let ns = |tv: libc::timeval| tv.tv_sec as u64 * 1_000_000_000 + tv.tv_usec as u64 * 1_000;
    (ns(ru.ru_utime), ns(ru.ru_stime))
}

/// The online CPUs (`/sys/devices/system/cpu/online`, e.g. `0-3,6`); `0..n` from
/// `available_parallelism` when that file cannot be read.
pub(crate) fn online_cpus() -> Vec<usize> {
    let parsed = std::fs::read_to_string("/sys/devices/system/cpu/online").ok().and_then(|s| {
        let mut v = Vec::new();
        for part in s.trim().split(',') {
            match part.split_once('-') {
                Some((a, b)) => v.extend(a.parse::<usize>().ok()?..=b.parse::<usize>().ok()?),
                None => v.push(part.parse().ok()?),
            }
        }
        (!v.is_empty()).then_some(v)
    });
    parsed.unwrap_or_else(|| {
        (0..std::thread::available_parallelism().map(|n| n.get()).unwrap_or(1)).collect()
    })
}

/// The kernel release (`/proc/sys/kernel/osrelease`) as (major, minor).
pub(crate) fn kernel_version() -> Option<(u32, u32)> {
    let s = std::fs::read_to_string("/proc/sys/kernel/osrelease").ok()?;
    let mut it = s.trim().split(['.', '-']);
    let major = it.next()?.parse().ok()?;
    let minor = it.next()?.parse().ok()?;
    Some((major, minor))
}
