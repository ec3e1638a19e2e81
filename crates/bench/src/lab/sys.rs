//! The few system calls the harness makes itself: entering a network namespace, the effective
//! user, the clock tick, signalling and reaping child processes with their CPU usage, pinning
//! a kernel thread and reading its CPU time, and the named pipes that steer `perf record` (see
//! [`crate::lab::profile`]).

use std::io;
use std::os::fd::AsRawFd;
use std::path::Path;
use std::time::Duration;

/// Moves the calling thread into the network namespace bound at `path` (`/run/netns/NAME`).
///
/// Sockets the thread creates afterwards belong to that namespace for their whole life, and
/// threads it spawns start in it; `/proc/thread-self/net/*` shows the namespace's counters.
pub fn enter_netns(path: &Path) -> io::Result<()> {
    let file = std::fs::File::open(path)?;
    // SAFETY: setns takes a valid open file descriptor (held by `file` for the call) and a
    // namespace type flag; it only changes the calling thread's namespace.
    let rc = unsafe { libc::setns(file.as_raw_fd(), libc::CLONE_NEWNET) };
    if rc == 0 { Ok(()) } else { Err(io::Error::last_os_error()) }
}

/// Moves the calling thread into the network namespace bound at `path` and gives it a mount
/// namespace of its own whose `/sys` is a sysfs mounted from inside that network namespace —
/// what `ip netns exec` does — so `/sys/class/net/DEV` shows the namespace's devices, and
/// programs the thread starts (`ethtool`) run in the namespace too. Mount events do not
/// propagate back (the copy of `/` is made a slave first). Use it in a thread that ends
/// afterwards (see `lab::nic`): the private mounts vanish with it.
pub fn enter_netns_with_sysfs(path: &Path) -> io::Result<()> {
    enter_netns(path)?;
    let check = |rc: libc::c_int, what: &str| {
        if rc == 0 {
            Ok(())
        } else {
            let e = io::Error::last_os_error();
            Err(io::Error::new(e.kind(), format!("{what}: {e}")))
        }
    };
    // SAFETY: unshare takes a flag word; CLONE_NEWNS (with the implied CLONE_FS) gives only
    // the calling thread a copy of the mount namespace and of its root/cwd.
    check(unsafe { libc::unshare(libc::CLONE_NEWNS) }, "unshare(CLONE_NEWNS)")?;
    let root = c"/";
    let sys = c"/sys";
    let sysfs = c"sysfs";
    // SAFETY: valid NUL-terminated strings that outlive the calls; no data argument. These
    // change only the thread's new mount namespace (made a slave before anything is mounted).
    let rc = unsafe {
        libc::mount(
            std::ptr::null(),
            root.as_ptr(),
            std::ptr::null(),
            libc::MS_REC | libc::MS_SLAVE,
            std::ptr::null(),
        )
    };
    check(rc, "making / a slave mount")?;
    // SAFETY: as above; a lazy unmount of the copy of /sys in the private namespace (it may
    // fail where /sys is not a mount point, which is harmless: the new sysfs covers it).
    unsafe { libc::umount2(sys.as_ptr(), libc::MNT_DETACH) };
    // SAFETY: as above; sysfs mounted by a thread in the namespace shows its devices.
    let rc =
        unsafe { libc::mount(sysfs.as_ptr(), sys.as_ptr(), sysfs.as_ptr(), 0, std::ptr::null()) };
    check(rc, "mounting the namespace's sysfs on /sys")
}

/// True when the process runs with effective uid 0.
pub fn euid_is_root() -> bool {
    // SAFETY: geteuid has no preconditions and cannot fail.
    unsafe { libc::geteuid() == 0 }
}

/// Kernel clock ticks per second (USER_HZ), the unit of `/proc/stat` and `/proc/PID/stat`.
pub fn clock_ticks_per_sec() -> u64 {
    // SAFETY: sysconf has no preconditions; it returns -1 for an unknown name.
    let t = unsafe { libc::sysconf(libc::_SC_CLK_TCK) };
    if t > 0 { t as u64 } else { 100 }
}

/// Sends `signal` to the process `pid` (one we started).
pub fn signal(pid: u32, signal: i32) -> io::Result<()> {
    // SAFETY: kill takes plain integers; a stale pid yields ESRCH, not undefined behaviour.
    let rc = unsafe { libc::kill(pid as libc::pid_t, signal) };
    if rc == 0 { Ok(()) } else { Err(io::Error::last_os_error()) }
}

/// Creates a named pipe (FIFO) at `path`, readable and writable by the owner only.
pub fn mkfifo(path: &Path) -> io::Result<()> {
    use std::os::unix::ffi::OsStrExt;
    let c = std::ffi::CString::new(path.as_os_str().as_bytes())
        .map_err(|_| io::Error::new(io::ErrorKind::InvalidInput, "path contains a NUL byte"))?;
    // SAFETY: `c` is a valid NUL-terminated string that outlives the call; mkfifo only reads it.
    let rc = unsafe { libc::mkfifo(c.as_ptr(), 0o600) };
    if rc == 0 { Ok(()) } else { Err(io::Error::last_os_error()) }
}

/// Makes the child that `cmd` starts receive SIGTERM when the thread that starts it ends
/// (`PR_SET_PDEATHSIG`), so a udprx killed with SIGKILL does not leave it running. Start such
/// children from a thread that lives as long as they should (the main thread).
pub fn end_with_parent(cmd: &mut std::process::Command) {
    use std::os::unix::process::CommandExt;
    // SAFETY: the closure runs in the child between fork and exec; it only calls prctl, which
    // is async-signal-safe, allocates nothing and touches no memory shared with the parent.
    unsafe {
        cmd.pre_exec(|| {
            if libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGTERM) == 0 {
                Ok(())
            } else {
                Err(io::Error::last_os_error())
            }
        });
    }
}

/// What a reaped child used.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct ChildExit {
    /// Exit code, or 128 + signal number.
    pub status: i32,
    /// User CPU time, ns.
    pub user_ns: u64,
    /// System CPU time, ns.
    pub sys_ns: u64,
}

/// Waits up to `timeout` for child `pid` to exit and reaps it with its resource usage; `None` if
/// it is still running at the deadline.
///
/// The child must have been spawned by this process and not be waited for elsewhere (do not call
/// `Child::wait` on it as well).
pub fn reap_with_usage(pid: u32, timeout: Duration) -> io::Result<Option<ChildExit>> {
    let deadline = std::time::Instant::now() + timeout;
    loop {
        let mut status: libc::c_int = 0;
        // SAFETY: an all-zero rusage is a valid value of this plain C struct.
        let mut usage: libc::rusage = unsafe { std::mem::zeroed() };
        // SAFETY: status and usage point to live, writable locals; WNOHANG never blocks.
        let rc = unsafe { libc::wait4(pid as libc::pid_t, &mut status, libc::WNOHANG, &mut usage) };
        if rc < 0 {
            return Err(io::Error::last_os_error());
        }
        if rc > 0 {
            let code = if libc::WIFEXITED(status) {
                libc::WEXITSTATUS(status)
            } else if libc::WIFSIGNALED(status) {
                128 + libc::WTERMSIG(status)
            } else {
                -1
            };
            let tv = |t: libc::timeval| t.tv_sec as u64 * 1_000_000_000 + t.tv_usec as u64 * 1_000;
            return Ok(Some(ChildExit {
                status: code,
                user_ns: tv(usage.ru_utime),
                sys_ns: tv(usage.ru_stime),
            }));
        }
        if std::time::Instant::now() >= deadline {
            return Ok(None);
        }
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// Pins task `pid` (e.g. a NAPI kernel thread) to `cpu`.
pub fn pin_task(pid: i32, cpu: usize) -> io::Result<()> {
    // SAFETY: all-zero is an empty cpu_set_t.
    let mut set: libc::cpu_set_t = unsafe { std::mem::zeroed() };
    // SAFETY: `set` is a valid cpu_set_t and `cpu` below CPU_SETSIZE is checked by the macro.
    unsafe { libc::CPU_SET(cpu, &mut set) };
    // SAFETY: `set` is live for the call and its size is passed.
    let rc = unsafe { libc::sched_setaffinity(pid, std::mem::size_of::<libc::cpu_set_t>(), &set) };
    if rc == 0 { Ok(()) } else { Err(io::Error::last_os_error()) }
}

/// User plus system CPU time of task `pid` in clock ticks (`/proc/PID/stat` fields 14 and 15),
/// or 0 when it cannot be read.
pub fn task_ticks(pid: i32) -> u64 {
    let Ok(s) = std::fs::read_to_string(format!("/proc/{pid}/stat")) else { return 0 };
    // The command name (field 2) may hold spaces: count fields after its closing parenthesis.
    let Some(rest) = s.rfind(')').map(|i| &s[i + 1..]) else { return 0 };
    let f: Vec<&str> = rest.split_whitespace().collect();
    let get = |i: usize| f.get(i).and_then(|v| v.parse::<u64>().ok()).unwrap_or(0);
    get(11) + get(12)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ticks_match_getconf() {
        // An independent reading of the same constant: a wrong sysconf name or the 100
        // fallback taken by mistake shows on any kernel whose CLK_TCK is not 100.
        let out = std::process::Command::new("getconf").arg("CLK_TCK").output().expect("getconf");
        let want: u64 = String::from_utf8_lossy(&out.stdout).trim().parse().unwrap();
        assert_eq!(clock_ticks_per_sec(), want);
    }

    #[test]
    #[allow(clippy::zombie_processes)] // reaped by reap_with_usage (wait4), not Child::wait
    fn reaps_a_child_with_usage() {
        let child = std::process::Command::new("sh").arg("-c").arg("exit 3").spawn().unwrap();
        let exit = reap_with_usage(child.id(), Duration::from_secs(10)).unwrap().expect("exited");
        assert_eq!(exit.status, 3);
    }

    #[test]
    fn missing_namespace_is_an_error() {
        assert!(enter_netns(Path::new("/run/netns/udprx-no-such-namespace")).is_err());
    }
}
