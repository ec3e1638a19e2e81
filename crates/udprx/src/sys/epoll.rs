//! An epoll instance for one socket: `epoll_create1`, `epoll_ctl(EPOLL_CTL_ADD, EPOLLIN)`
//! (level-triggered), `epoll_wait`, and the per-instance busy-poll parameters
//! (`EPIOCSPARAMS` / `EPIOCGPARAMS`, Linux 6.9), which the libc headers of older
//! distributions lack and are therefore defined here.

use std::io;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd, RawFd};

/// `struct epoll_params` (include/uapi/linux/eventpoll.h, Linux 6.9).
#[repr(C)]
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub(crate) struct EpollParams {
    /// How long one wait busy-polls the device queue before sleeping (µs; 0: no busy polling
    /// unless `net.core.busy_poll` says so).
    pub busy_poll_usecs: u32,
    /// Packets per NAPI poll while busy polling (0: the kernel's default, 8; above 64 needs
    /// CAP_NET_ADMIN).
    pub busy_poll_budget: u16,
    /// 1: prefer busy polling over interrupts (lets the kernel defer softirq processing while
    /// the application polls; the base of IRQ suspension, Linux 6.13).
    pub prefer_busy_poll: u8,
    /// Must be zero (the kernel refuses anything else with EINVAL).
    pub pad: u8,
}

const _: () = assert!(std::mem::size_of::<EpollParams>() == 8);

/// `_IOC(dir, type, nr, size)` for the generic ioctl layout (x86, arm, riscv, ...).
const fn ioc(dir: u32, ty: u32, nr: u32, size: u32) -> u32 {
    (dir << 30) | (size << 16) | (ty << 8) | nr
}
const IOC_WRITE: u32 = 1;
const IOC_READ: u32 = 2;
/// `EPOLL_IOC_TYPE`.
const EPOLL_IOC_TYPE: u32 = 0x8A;
/// `EPIOCSPARAMS = _IOW(0x8A, 0x01, struct epoll_params)`.
pub(crate) const EPIOCSPARAMS: u32 =
    ioc(IOC_WRITE, EPOLL_IOC_TYPE, 0x01, std::mem::size_of::<EpollParams>() as u32);
/// `EPIOCGPARAMS = _IOR(0x8A, 0x02, struct epoll_params)`.
pub(crate) const EPIOCGPARAMS: u32 =
    ioc(IOC_READ, EPOLL_IOC_TYPE, 0x02, std::mem::size_of::<EpollParams>() as u32);
const _: () = assert!(EPIOCSPARAMS == 0x4008_8A01);
const _: () = assert!(EPIOCGPARAMS == 0x8008_8A02);

/// One epoll instance watching one descriptor for EPOLLIN, level-triggered.
pub(crate) struct Epoll {
    fd: OwnedFd,
}

impl Epoll {
    /// A new instance (close-on-exec) with `watched` registered for EPOLLIN.
    pub(crate) fn new(watched: RawFd) -> io::Result<Epoll> {
        let ep = Epoll::empty()?;
        let mut ev = libc::epoll_event { events: libc::EPOLLIN as u32, u64: 0 };
        // SAFETY: `ep.fd` is our epoll descriptor and `ev` a live, initialised epoll_event the
        // kernel only reads; a bad `watched` is refused with EBADF.
        let rc =
            unsafe { libc::epoll_ctl(ep.fd.as_raw_fd(), libc::EPOLL_CTL_ADD, watched, &mut ev) };
        if rc != 0 {
            return Err(io::Error::last_os_error());
        }
        Ok(ep)
    }

    /// A new instance watching nothing (for probing the busy-poll parameters).
    pub(crate) fn empty() -> io::Result<Epoll> {
        // SAFETY: epoll_create1 takes a flag and returns a new descriptor or -1.
        let fd = unsafe { libc::epoll_create1(libc::EPOLL_CLOEXEC) };
        if fd < 0 {
            return Err(io::Error::last_os_error());
        }
        // SAFETY: `fd` was just returned by the kernel and is owned by nothing else.
        Ok(Epoll { fd: unsafe { OwnedFd::from_raw_fd(fd) } })
    }

    /// Waits up to `timeout_ms` (0: do not wait) for the descriptor to become readable;
    /// the number of ready descriptors (0 on timeout). EINTR is returned as `Interrupted`.
    #[inline]
    pub(crate) fn wait(&self, timeout_ms: i32) -> io::Result<usize> {
        let mut ev = libc::epoll_event { events: 0, u64: 0 };
        // Straight to the kernel, like the receive calls (sys/recv.rs): libc's `epoll_wait` is a
        // cancellation point that switches async cancellation on and off in a multi-threaded
        // process. `epoll_pwait` with no signal mask is `epoll_wait` on every architecture.
        // SAFETY: `ev` is a live, writable array of one epoll_event and `maxevents` is 1; a NULL
        // signal mask (size ignored) leaves the thread's mask as it is.
        let n = unsafe {
            libc::syscall(
                libc::SYS_epoll_pwait,
                self.fd.as_raw_fd(),
                &mut ev as *mut libc::epoll_event,
                1,
                timeout_ms,
                std::ptr::null::<libc::sigset_t>(),
                0usize,
            )
        };
        if n < 0 { Err(io::Error::last_os_error()) } else { Ok(n as usize) }
    }

    /// `ioctl(EPIOCSPARAMS)`: sets the instance's busy-poll parameters. ENOTTY (or EINVAL on
    /// some kernels) before Linux 6.9; EPERM for a budget above 64 without CAP_NET_ADMIN.
    pub(crate) fn set_params(&self, p: &EpollParams) -> io::Result<()> {
        // SAFETY: EPIOCSPARAMS reads exactly size_of::<EpollParams>() bytes (encoded in the
        // request number, asserted above) from the live `p`; on a kernel that does not know
        // the request it reads nothing and fails.
        let rc =
            unsafe { libc::ioctl(self.fd.as_raw_fd(), EPIOCSPARAMS as _, p as *const EpollParams) };
        if rc != 0 { Err(io::Error::last_os_error()) } else { Ok(()) }
    }

    /// `ioctl(EPIOCGPARAMS)`: what the kernel holds for this instance.
    pub(crate) fn params(&self) -> io::Result<EpollParams> {
        let mut p = EpollParams::default();
        // SAFETY: EPIOCGPARAMS writes exactly size_of::<EpollParams>() bytes (encoded in the
        // request number) into the live, writable `p`.
        let rc = unsafe {
            libc::ioctl(self.fd.as_raw_fd(), EPIOCGPARAMS as _, &mut p as *mut EpollParams)
        };
        if rc != 0 { Err(io::Error::last_os_error()) } else { Ok(p) }
    }
}

/// Sets `want` on `ep` and reads back what the kernel holds: `Ok` with the held parameters, or
/// `Err` with a one-line refusal (what the kernel said and why, e.g. a kernel before 6.9).
pub(crate) fn apply_params(ep: &Epoll, want: &EpollParams) -> Result<EpollParams, String> {
    ep.set_params(want).map_err(|e| refusal(&e))?;
    ep.params().map_err(|e| format!("EPIOCGPARAMS failed after EPIOCSPARAMS was taken ({e})"))
}

fn refusal(e: &io::Error) -> String {
    match e.raw_os_error() {
        Some(libc::ENOTTY) => {
            "EPIOCSPARAMS refused (ENOTTY: kernel without epoll busy-poll parameters, needs 6.9)"
                .to_string()
        }
        Some(libc::EINVAL) => {
            "EPIOCSPARAMS refused (EINVAL: kernel before 6.9, or a value it rejects)".to_string()
        }
        Some(libc::EPERM) => {
            "EPIOCSPARAMS refused (EPERM: a busy-poll budget above 64 needs CAP_NET_ADMIN)"
                .to_string()
        }
        _ => format!("EPIOCSPARAMS refused ({e})"),
    }
}

/// The held parameters as one report line.
pub(crate) fn describe(p: &EpollParams) -> String {
    format!(
        "EPIOCSPARAMS busy_poll_usecs={} busy_poll_budget={} prefer_busy_poll={} (read back)",
        p.busy_poll_usecs, p.busy_poll_budget, p.prefer_busy_poll
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn params_apply_and_read_back_or_are_refused_in_one_line() {
        let ep = Epoll::empty().expect("epoll_create1");
        let want =
            EpollParams { busy_poll_usecs: 50, busy_poll_budget: 16, prefer_busy_poll: 1, pad: 0 };
        match apply_params(&ep, &want) {
            Ok(held) => assert_eq!(held, want),
            Err(why) => {
                assert!(why.starts_with("EPIOCSPARAMS refused"), "{why}");
                assert!(!why.contains('\n'));
                // Only a kernel before 6.9 may refuse.
                let v = crate::sys::kernel_version().unwrap_or((0, 0));
                assert!(v < (6, 9), "a {v:?} kernel refused: {why}");
            }
        }
        // The kernel checks the padding byte and prefer_busy_poll (0 or 1).
        let bad = EpollParams { prefer_busy_poll: 2, ..want };
        if crate::sys::kernel_version().unwrap_or((0, 0)) >= (6, 9) {
            assert!(ep.set_params(&bad).is_err());
        }
    }

    #[test]
    fn wait_times_out_and_sees_a_readable_socket() {
        let s = std::net::UdpSocket::bind("127.0.0.1:0").unwrap();
        let ep = Epoll::new(s.as_raw_fd()).expect("epoll");
        assert_eq!(ep.wait(0).unwrap(), 0);
        std::net::UdpSocket::bind("127.0.0.1:0")
            .unwrap()
            .send_to(b"x", s.local_addr().unwrap())
            .unwrap();
        assert_eq!(ep.wait(1000).unwrap(), 1);
        // Level-triggered: still readable until the datagram is taken.
        assert_eq!(ep.wait(0).unwrap(), 1);
        let mut b = [0u8; 4];
        s.recv(&mut b).unwrap();
        assert_eq!(ep.wait(0).unwrap(), 0);
    }
}
