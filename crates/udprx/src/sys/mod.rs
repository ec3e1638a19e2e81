//! The parts of the engine that talk to the kernel directly: socket options, the receive calls
//! of the socket methods (`recv`), control-message and socket-address decoding, per-thread
//! resource usage and `/proc/net/udp` drop counters; for the XDP paths the `bpf()` system call,
//! rtnetlink and AF_XDP sockets.

pub(crate) mod bpf;
pub(crate) mod bufring;
pub(crate) mod cmsg;
pub(crate) mod epoll;
pub(crate) mod netlink;
pub(crate) mod proc;
pub(crate) mod recv;
pub(crate) mod reply;
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

/// Pins the calling thread to `cpu` (`sched_setaffinity`); false when the kernel refuses (the CPU
/// is offline, outside the cgroup's cpuset, or beyond `CPU_SETSIZE`).
pub(crate) fn pin_current_thread(cpu: usize) -> bool {
    if cpu >= libc::CPU_SETSIZE as usize {
        return false;
    }
    // SAFETY: all-zero is a valid, empty `cpu_set_t` (a plain bit array).
    let mut set: libc::cpu_set_t = unsafe { std::mem::zeroed() };
    // SAFETY: `cpu` < CPU_SETSIZE was checked, so CPU_SET stays inside the set.
    unsafe { libc::CPU_SET(cpu, &mut set) };
    // SAFETY: pid 0 is the calling thread; `set` is a valid cpu_set_t of the size passed.
    unsafe { libc::sched_setaffinity(0, std::mem::size_of::<libc::cpu_set_t>(), &set) == 0 }
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

/// The CPUs the calling thread may run on (`sched_getaffinity`: its cpuset, `taskset`, a
/// container's limit), in order; the online CPUs when the call fails.
pub(crate) fn allowed_cpus() -> Vec<usize> {
    // SAFETY: all-zero is a valid, empty cpu_set_t.
    let mut set: libc::cpu_set_t = unsafe { std::mem::zeroed() };
    // SAFETY: `set` is a valid, writable cpu_set_t of the size passed; pid 0 is this thread.
    let rc =
        unsafe { libc::sched_getaffinity(0, std::mem::size_of::<libc::cpu_set_t>(), &mut set) };
    if rc != 0 {
        return online_cpus();
    }
    let online = online_cpus();
    let v: Vec<usize> = (0..libc::CPU_SETSIZE as usize)
        // SAFETY: `c` is below CPU_SETSIZE, the size of `set`.
        .filter(|&c| unsafe { libc::CPU_ISSET(c, &set) } && online.contains(&c))
        .collect();
    if v.is_empty() { online } else { v }
}

/// The kernel release (`/proc/sys/kernel/osrelease`) as (major, minor).
pub(crate) fn kernel_version() -> Option<(u32, u32)> {
    let s = std::fs::read_to_string("/proc/sys/kernel/osrelease").ok()?;
    let mut it = s.trim().split(['.', '-']);
    let major = it.next()?.parse().ok()?;
    let minor = it.next()?.parse().ok()?;
    Some((major, minor))
}
