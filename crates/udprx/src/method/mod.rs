//! The receive loops, one module per method, and what they share.

pub(crate) mod epoll;
pub(crate) mod recvfrom;
pub(crate) mod recvmmsg;
pub(crate) mod uring;
pub(crate) mod xdp;

use std::sync::atomic::{AtomicBool, Ordering};

use crate::clock::{Clock, now_ns};

use crate::batch::{Batch, Flow, Handler};

/// How datagrams are taken from the socket.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
#[cfg_attr(feature = "serde", serde(rename_all = "lowercase"))]
#[non_exhaustive]
pub enum Method {
    /// One `recvfrom` (or `recvmsg` when control messages are needed) per datagram: the baseline.
    Recvfrom,
    /// `recvmmsg` batches of up to `batch` datagrams, MSG_WAITFORONE.
    Recvmmsg,
    /// io_uring multishot `recvmsg` over a provided-buffer ring.
    Uring,
    /// The event-loop shape: one epoll instance per socket (level-triggered EPOLLIN),
    /// `epoll_wait` for the idle interval, then `recvmmsg(MSG_DONTWAIT)` batches until a short
    /// batch or EAGAIN. Receives exactly as [`Method::Recvmmsg`] does; the thread sleeps in
    /// `epoll_wait`, where epoll busy polling (`busy_poll` on Linux 6.9+) applies. Opt-in: not
    /// in [`Method::ALL`].
    Epoll,
    /// io_uring multishot `recv` over a provided-buffer ring: payload only, no source address
    /// (flows are told apart by the probe header alone) and no control messages (no GRO, no
    /// kernel timestamps; drops read from /proc/net/udp at the end).
    #[cfg_attr(feature = "serde", serde(rename = "uring-recv"))]
    UringRecv,
    /// The cheapest method that gives every datagram's source: `recvmmsg` unless io_uring is
    /// shown cheaper, and io_uring multishot `recvmsg` cost more CPU per datagram than
    /// `recvmmsg` in every series this project measured (docs/results.md), so `recvmmsg`. The
    /// reason is reported ([`SetupInfo::fallback_reason`](crate::SetupInfo::fallback_reason)),
    /// as is a downgrade (UDP_GRO refused → without GRO). Never io_uring recv (no source
    /// address) and never an XDP path.
    Auto,
    /// AF_XDP sockets, one per receive queue, fed by an XDP program that redirects the bound
    /// address and port and passes everything else to the stack.
    Xdp,
    /// An XDP program that counts the bound address and port's datagrams in a per-CPU map and
    /// drops them: the driver-level ceiling.
    #[cfg_attr(feature = "serde", serde(rename = "xdp-drop"))]
    XdpDrop,
}

impl Method {
    /// Every concrete socket method, in the order reports list them (the XDP paths, which take
    /// over an interface queue, and [`Method::Epoll`], the event-loop shape of `recvmmsg`, are
    /// opt-in and not listed).
    pub const ALL: [Method; 4] =
        [Method::Recvfrom, Method::Recvmmsg, Method::Uring, Method::UringRecv];

    /// The name used on command lines and in reports.
    pub fn as_str(self) -> &'static str {
        match self {
            Method::Recvfrom => "recvfrom",
            Method::Recvmmsg => "recvmmsg",
            Method::Uring => "uring",
            Method::UringRecv => "uring-recv",
            Method::Epoll => "epoll",
            Method::Auto => "auto",
            Method::Xdp => "xdp",
            Method::XdpDrop => "xdp-drop",
        }
    }

    /// True for the paths past the socket layer (`xdp`, `xdp-drop`).
    pub fn is_xdp(self) -> bool {
        matches!(self, Method::Xdp | Method::XdpDrop)
    }
}

impl std::fmt::Display for Method {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

impl std::str::FromStr for Method {
    type Err = String;
    fn from_str(s: &str) -> Result<Method, String> {
        match s {
            "recvfrom" => Ok(Method::Recvfrom),
            "recvmmsg" => Ok(Method::Recvmmsg),
            "uring" | "io_uring" | "io-uring" => Ok(Method::Uring),
            "uring-recv" | "uring_recv" => Ok(Method::UringRecv),
            "epoll" => Ok(Method::Epoll),
            "auto" => Ok(Method::Auto),
            "xdp" | "af_xdp" | "af-xdp" => Ok(Method::Xdp),
            "xdp-drop" | "xdp_drop" => Ok(Method::XdpDrop),
            other => Err(format!(
                "unknown method '{other}' (expected recvfrom, recvmmsg, uring, uring-recv, epoll, \
                 auto, xdp or xdp-drop)"
            )),
        }
    }
}

/// Per-thread settings every loop reads.
#[derive(Debug, Clone)]
pub(crate) struct LoopConfig {
    pub batch: usize,
    /// recvmmsg: wait for a full batch instead of MSG_WAITFORONE.
    pub full_batch: bool,
    pub ring_buffers: usize,
    /// Payload bytes per buffer (already raised to 64 KiB with GRO).
    pub buffer_size: usize,
    pub gro: bool,
    pub timestamps: bool,
    /// IP_PKTINFO / IPV6_RECVPKTINFO is on: destination address and interface per datagram.
    pub pktinfo: bool,
    /// IP_RECVTOS / IPV6_RECVTCLASS is on: ECN bits per datagram.
    pub ecn: bool,
    pub spin: bool,
    /// Wait at most this long in the kernel before calling `on_idle` (ns).
    pub idle_ns: u64,
    /// Ask io_uring for SINGLE_ISSUER + DEFER_TASKRUN.
    pub uring_defer: bool,
    /// io_uring: register NAPI busy polling for this many µs.
    pub napi_busy_poll: Option<u32>,
    /// epoll: the busy-poll parameters to set on each epoll instance (EPIOCSPARAMS).
    pub epoll_params: Option<crate::sys::epoll::EpollParams>,
    /// Ask the kernel for each datagram's source address (`source_addresses`); without, no
    /// name area is given and every datagram reports `0.0.0.0:0`.
    pub names: bool,
    /// Give the kernel control space per datagram: some control message is on (SO_RXQ_OVFL,
    /// GRO, timestamps, PKTINFO or ECN). Without, no control area is given.
    pub cmsg: bool,
    /// Read the drop counter with SO_MEMINFO at most once per `idle_ns` (and when idle)
    /// instead of per datagram (`drops_per_interval`: SO_RXQ_OVFL is off).
    pub meminfo_drops: bool,
    /// `auto`: a multishot refusal at run time falls back to `recvmmsg` instead of failing.
    pub fallback_on_refusal: bool,
    /// Tests: arm the io_uring request so that the kernel refuses it with EINVAL.
    pub inject_multishot_einval: bool,
}

impl LoopConfig {
    /// Control-buffer bytes per datagram: room for PKTINFO and TOS/TCLASS only when asked for.
    pub(crate) fn control_len(&self) -> usize {
        if self.pktinfo || self.ecn {
            crate::sys::cmsg::CONTROL_LEN
        } else {
            crate::sys::cmsg::CONTROL_LEN_BASE
        }
    }
}

/// What the kernel reported to a [`PullReceiver`](crate::PullReceiver) so far.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct RecvCounters {
    /// The socket's cumulative drop counter: SO_RXQ_OVFL as last carried by a datagram
    /// (`Some(0)` until one carries it: the kernel attaches it only once it is non-zero), or
    /// with `drops_per_interval` SO_MEMINFO read at most once per idle interval. `None` means
    /// "not read", never "zero": plain `recvfrom` and `uring-recv` read no control messages
    /// (and `drops_per_interval` before its first read).
    pub kernel_drops: Option<u32>,
    /// io_uring: completions that found the buffer ring empty (ENOBUFS; the datagrams stay
    /// queued in the socket and the re-armed request takes them).
    pub enobufs: u64,
    /// io_uring: times the multishot request was re-armed.
    pub rearms: u64,
    /// NAPI busy polling is set on the wait: io_uring NAPI registered on the ring, or (method
    /// `epoll`) busy-poll parameters held by the epoll instance (EPIOCSPARAMS).
    pub napi: bool,
    /// `epoll`: `epoll_wait` calls that returned with the socket readable.
    pub epoll_wakeups: u64,
}

/// What a receive loop counts (public as [`RecvCounters`]).
pub(crate) type Counters = RecvCounters;

/// Counters a loop keeps for its [`crate::ThreadResult`].
#[derive(Debug, Clone, Copy, Default)]
pub(crate) struct LoopStats {
    pub kernel_drops: Option<u32>,
    pub enobufs: u64,
    pub rearms: u64,
    pub buffers: u64,
    pub batches: u64,
    /// AF_XDP: frames that were not a whole Ethernet/IP/UDP datagram (counted, skipped).
    pub bad_frames: u64,
    /// NAPI busy polling was set on the wait (io_uring ring or epoll instance).
    pub napi: bool,
    /// `epoll`: wake-ups of `epoll_wait` with the socket readable.
    pub epoll_wakeups: u64,
}

/// What a loop needs besides its socket: the handler, the stop flag and the deadline.
pub(crate) struct LoopCtx<'a, H> {
    pub socket: usize,
    pub cfg: &'a LoopConfig,
    pub handler: &'a mut H,
    pub stop: &'a AtomicBool,
    pub deadline_ns: Option<u64>,
    pub stats: LoopStats,
    last_idle_ns: u64,
}

impl<'a, H: Handler> LoopCtx<'a, H> {
    pub(crate) fn new(
        socket: usize,
        cfg: &'a LoopConfig,
        handler: &'a mut H,
        stop: &'a AtomicBool,
        deadline_ns: Option<u64>,
    ) -> Self {
        LoopCtx {
            socket,
            cfg,
            handler,
            stop,
            deadline_ns,
            stats: LoopStats::default(),
            last_idle_ns: now_ns(Clock::Monotonic),
        }
    }

    /// Hands a batch to the handler; false when the loop must end.
    #[inline]
    pub(crate) fn deliver(&mut self, batch: &Batch<'_>) -> bool {
        self.stats.buffers += batch.len() as u64;
        self.stats.batches += 1;
        self.last_idle_ns = batch.rx_ns;
        if self.handler.on_batch(batch) == Flow::Stop {
            self.stop.store(true, Ordering::Relaxed);
            return false;
        }
        self.keep_going(batch.rx_ns)
    }

    /// Checks the stop flag and the deadline; false when the loop must end.
    #[inline]
    pub(crate) fn keep_going(&self, now: u64) -> bool {
        if self.stop.load(Ordering::Relaxed) {
            return false;
        }
        match self.deadline_ns {
            Some(d) if now >= d => {
                self.stop.store(true, Ordering::Relaxed);
                false
            }
            _ => true,
        }
    }

    /// A receive wait ended without data: calls `on_idle` (at most once per idle period in spin
    /// mode); false when the loop must end.
    pub(crate) fn idle(&mut self) -> bool {
        let now = now_ns(Clock::Monotonic);
        if !self.cfg.spin || now.saturating_sub(self.last_idle_ns) >= self.cfg.idle_ns {
            self.last_idle_ns = now;
            if self.handler.on_idle(now) == Flow::Stop {
                self.stop.store(true, Ordering::Relaxed);
                return false;
            }
        }
        self.keep_going(now)
    }
}

/// True for the errors a receive call returns when nothing arrived before the timeout (or in
/// non-blocking mode) or a signal interrupted the wait.
#[inline]
pub(crate) fn is_wouldblock(e: &std::io::Error) -> bool {
    matches!(
        e.kind(),
        std::io::ErrorKind::WouldBlock
            | std::io::ErrorKind::Interrupted
            | std::io::ErrorKind::TimedOut
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_round_trip() {
        for m in [
            Method::Recvfrom,
            Method::Recvmmsg,
            Method::Uring,
            Method::UringRecv,
            Method::Epoll,
            Method::Auto,
            Method::Xdp,
            Method::XdpDrop,
        ] {
            assert_eq!(m.to_string().parse::<Method>(), Ok(m));
            #[cfg(feature = "serde")]
            assert_eq!(serde_json::to_string(&m).unwrap(), format!("\"{m}\""));
        }
        assert!("fast".parse::<Method>().is_err());
    }
}
