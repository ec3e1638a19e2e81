//! [`ReceiverBuilder`]: the options of a receiver, their defaults, and the checks that refuse a
//! bad configuration before any socket is created.

use std::net::SocketAddr;
use std::time::Duration;

use super::{Receiver, Steer, StopHandle};
use crate::error::Error;
use crate::method::Method;
use crate::method::uring::MAX_RING_BUFFERS;
use crate::sys;

/// Configures a [`Receiver`]. See [`Receiver::builder`].
#[derive(Debug, Clone)]
pub struct ReceiverBuilder {
    pub(super) addr: SocketAddr,
    pub(super) method: Method,
    pub(super) sockets: usize,
    pub(super) steer: Steer,
    pub(super) cpus: Option<Vec<usize>>,
    pub(super) batch: usize,
    pub(super) full_batch: bool,
    pub(super) ring_buffers: Option<usize>,
    pub(super) buffer_size: usize,
    pub(super) gro: bool,
    pub(super) busy_poll: Option<u32>,
    pub(super) prefer_busy_poll: bool,
    pub(super) busy_poll_budget: Option<u16>,
    pub(super) rcvbuf: Option<usize>,
    pub(super) timestamps: bool,
    pub(super) pktinfo: bool,
    pub(super) ecn: bool,
    pub(super) spin: bool,
    pub(super) duration: Option<Duration>,
    pub(super) stop: Option<StopHandle>,
    pub(super) idle: Duration,
    pub(super) uring_defer: bool,
    pub(super) share_port: bool,
    pub(super) iface: Option<String>,
    pub(super) force: bool,
    pub(super) source_addresses: bool,
    pub(super) drops_per_interval: bool,
    pub(super) inject_multishot_einval: bool,
}

/// Default io_uring ring size; smaller with GRO, whose buffers are 64 KiB each.
pub(super) const DEFAULT_RING_BUFFERS: usize = 4096;
pub(super) const DEFAULT_RING_BUFFERS_GRO: usize = 256;
/// Payload buffer size with GRO: the largest coalesced UDP payload.
pub(super) const GRO_BUFFER: usize = 65536;
/// Largest receive buffer (SO_RCVBUF) one may ask for: 1 GiB (the kernel doubles the value
/// and keeps it in an `int`).
pub const MAX_RCVBUF: usize = 1 << 30;
/// Most receive-buffer memory one run may ask for over all its sockets (2 GiB): see
/// [`ReceiverBuilder::build`].
pub const MAX_BUFFER_MEMORY: u128 = 2 << 30;

impl ReceiverBuilder {
    /// Receive method (default `Auto`).
    pub fn method(mut self, m: Method) -> Self {
        self.method = m;
        self
    }
    /// Number of `SO_REUSEPORT` sockets, one thread each (default 1).
    pub fn sockets(mut self, n: usize) -> Self {
        self.sockets = n;
        self
    }
    /// Steering between sockets (default `Hash`).
    pub fn steer(mut self, s: Steer) -> Self {
        self.steer = s;
        self
    }
    /// CPUs to pin socket threads to: socket i on `cpus[i % len]`. Default: socket i on the
    /// i-th CPU (mod their number) of those the building thread may run on
    /// (`sched_getaffinity`), so a `taskset`, cpuset or container limit is honoured. An empty
    /// list disables pinning (the threads inherit the process's mask).
    pub fn cpus(mut self, cpus: Vec<usize>) -> Self {
        self.cpus = Some(cpus);
        self
    }
    /// Datagrams per `recvmmsg` call (default 64).
    pub fn batch(mut self, n: usize) -> Self {
        self.batch = n;
        self
    }
    /// recvmmsg: block until the batch is full (or the idle timeout) instead of returning
    /// after the first datagram (MSG_WAITFORONE, the default).
    pub fn full_batch(mut self, on: bool) -> Self {
        self.full_batch = on;
        self
    }
    /// Buffers in the io_uring provided-buffer ring, a power of two up to 32768 (default 4096,
    /// 256 with GRO).
    pub fn ring_buffers(mut self, n: usize) -> Self {
        self.ring_buffers = Some(n);
        self
    }
    /// Payload bytes per receive buffer (default 2048; 64 KiB at least with GRO).
    pub fn buffer_size(mut self, n: usize) -> Self {
        self.buffer_size = n;
        self
    }
    /// Enable UDP_GRO (coalesced buffers, segment size per buffer).
    pub fn gro(mut self, on: bool) -> Self {
        self.gro = on;
        self
    }
    /// SO_BUSY_POLL in µs. On the io_uring paths a non-zero value also registers NAPI busy
    /// polling on the ring (`IORING_REGISTER_NAPI`); with [`Method::Epoll`] it also sets the
    /// epoll instance's busy-poll parameters (`EPIOCSPARAMS`, Linux 6.9: `epoll_wait` polls the
    /// device queue for this long before sleeping; a kernel that refuses is reported in
    /// [`SetupInfo::epoll_busy_poll`](super::SetupInfo::epoll_busy_poll) and the run goes on
    /// without it). `Some(0)` sets SO_BUSY_POLL 0 (off) and registers nothing.
    pub fn busy_poll(mut self, usec: Option<u32>) -> Self {
        self.busy_poll = usec;
        self
    }
    /// Prefer busy polling over interrupts (default false): SO_PREFER_BUSY_POLL on the socket
    /// (Linux 5.11; turning it on needs CAP_NET_ADMIN) and, with [`Method::Epoll`] and a
    /// non-zero [`busy_poll`](Self::busy_poll), `prefer_busy_poll` in the epoll instance's
    /// parameters (Linux 6.9). While the application keeps polling, the kernel may then defer
    /// the device's softirq processing to it (with `napi_defer_hard_irqs` and
    /// `gro_flush_timeout` set on the device); IRQ suspension (Linux 6.13,
    /// `irq-suspend-timeout`) builds on an epoll loop with this on. `false` sets nothing (the
    /// kernel's default).
    pub fn prefer_busy_poll(mut self, on: bool) -> Self {
        self.prefer_busy_poll = on;
        self
    }
    /// Packets one busy-poll round may take from the device (default: the kernel's, 8):
    /// SO_BUSY_POLL_BUDGET on the socket (Linux 5.11; raising it needs CAP_NET_ADMIN) and, with
    /// [`Method::Epoll`] and a non-zero [`busy_poll`](Self::busy_poll), `busy_poll_budget` in
    /// the epoll instance's parameters (Linux 6.9; above 64 needs CAP_NET_ADMIN). 0 keeps the
    /// kernel's default.
    pub fn busy_poll_budget(mut self, packets: u16) -> Self {
        self.busy_poll_budget = Some(packets);
        self
    }
    /// Receive buffer size asked for (SO_RCVBUFFORCE when permitted, else SO_RCVBUF).
    pub fn rcvbuf(mut self, bytes: Option<usize>) -> Self {
        self.rcvbuf = bytes;
        self
    }
    /// Kernel receive timestamps (SO_TIMESTAMPNS) per datagram.
    pub fn timestamps(mut self, on: bool) -> Self {
        self.timestamps = on;
        self
    }
    /// Destination address and interface index per datagram (IP_PKTINFO / IPV6_RECVPKTINFO):
    /// [`Datagram::dst_ip`](crate::Datagram::dst_ip) and `ifindex`, `None` when off (the
    /// default). Lets a server bound to `0.0.0.0` or `::` tell which of its addresses was asked,
    /// and answer from it ([`crate::Replier::queue_reply`]). Costs nothing when off: the control
    /// space per datagram grows only when on. Needs a method that reads control messages
    /// (`recvfrom`, which then uses `recvmsg`, `recvmmsg`, `uring`, `auto`).
    ///
    /// ```
    /// use std::net::UdpSocket;
    /// use udprx::{Method, Receiver};
    ///
    /// let rx = Receiver::builder("127.0.0.1:0".parse()?)
    ///     .method(Method::Recvmmsg)
    ///     .pktinfo(true)
    ///     .ecn(true)
    ///     .build()?;
    /// let addr = rx.local_addr();
    /// let mut pull = rx.into_pull()?.remove(0);
    /// pull.set_nonblocking(false); // wait (up to the idle interval) for the datagram
    /// UdpSocket::bind("127.0.0.1:0")?.send_to(b"q", addr)?;
    /// let batch = pull.recv_batch()?;
    /// let d = batch.get(0).unwrap();
    /// assert_eq!(d.dst_ip, Some(addr.ip()));
    /// assert!(d.ifindex.is_some());
    /// assert_eq!(d.ecn, Some(0)); // Not-ECT: the sender set no ECN codepoint
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn pktinfo(mut self, on: bool) -> Self {
        self.pktinfo = on;
        self
    }
    /// The two ECN bits of each datagram's IP header (IP_RECVTOS / IPV6_RECVTCLASS):
    /// [`Datagram::ecn`](crate::Datagram::ecn), `None` when off (the default). Same methods as
    /// [`pktinfo`](Self::pktinfo).
    pub fn ecn(mut self, on: bool) -> Self {
        self.ecn = on;
        self
    }
    /// Busy-loop on a non-blocking receive instead of sleeping in the kernel.
    pub fn spin(mut self, on: bool) -> Self {
        self.spin = on;
        self
    }
    /// End the run by itself after this long.
    pub fn duration(mut self, d: Option<Duration>) -> Self {
        self.duration = d;
        self
    }
    /// Use this stop handle (e.g. one shared with a signal watcher) instead of a fresh one.
    pub fn stop_handle(mut self, h: StopHandle) -> Self {
        self.stop = Some(h);
        self
    }
    /// Longest wait in the kernel before `Handler::on_idle` (default 100 ms).
    pub fn idle_interval(mut self, d: Duration) -> Self {
        self.idle = d;
        self
    }
    /// Ask io_uring for SINGLE_ISSUER + DEFER_TASKRUN when available (default true).
    pub fn uring_defer_taskrun(mut self, on: bool) -> Self {
        self.uring_defer = on;
        self
    }
    /// Join an existing SO_REUSEPORT group on the port (default false).
    ///
    /// By default [`build`](Self::build) refuses a port that another socket already holds
    /// ([`Error::PortInUse`]): with SO_REUSEPORT the kernel would otherwise let this receiver
    /// join another process's group and split the datagrams between them without a word. With
    /// `share_port`, every socket (even a single one) sets SO_REUSEPORT and no check is made.
    pub fn share_port(mut self, on: bool) -> Self {
        self.share_port = on;
        self
    }

    /// Fault injection for tests: the io_uring multishot request is armed with MSG_WAITALL,
    /// which the kernel refuses with EINVAL exactly as a kernel without multishot receive
    /// refuses the request, before any datagram is taken. With [`Method::Auto`] it also makes
    /// `auto` take io_uring when the kernel offers it (instead of `recvmmsg`), so that the
    /// run-time downgrade can be exercised. Not for applications.
    #[doc(hidden)]
    pub fn inject_multishot_einval(mut self, on: bool) -> Self {
        self.inject_multishot_einval = on;
        self
    }

    /// Ask the kernel for each datagram's source address (default true). With `false`,
    /// `recvfrom`, `recvmmsg` and `uring` give the kernel no address area, so it copies none —
    /// what a bare C loop that never answers asks of the kernel — and every
    /// [`Datagram::source`](crate::Datagram) is `0.0.0.0:0`. `uring-recv` never reads one; the
    /// XDP paths take it from the frame at no cost and ignore this setting.
    ///
    /// Turn it off when the application does not need to know or answer the sender: a
    /// measurement that tells senders apart by what the datagram carries (the probe header's
    /// sender id, as `udprx` does), a sink, a collector keyed by payload. With
    /// [`drops_per_interval`](Self::drops_per_interval) and no other control message, the
    /// receive calls are then exactly a bare loop's. Refused with `pktinfo` (an answer needs
    /// the address it goes to).
    pub fn source_addresses(mut self, on: bool) -> Self {
        self.source_addresses = on;
        self
    }

    /// Read the socket's kernel drop counter once per idle interval (SO_MEMINFO, one system
    /// call at most every [`idle_interval`](Self::idle_interval), when idle and at the end)
    /// instead of with every datagram (SO_RXQ_OVFL, a control message the kernel builds and
    /// copies per datagram; the default). Default false.
    ///
    /// What it trades: the live drop count ([`RecvCounters::kernel_drops`](crate::RecvCounters),
    /// [`Batch::kernel_drops`](crate::Batch)) lags by up to an idle interval; the final count
    /// stays exact. Source addresses and the other options are kept (see
    /// [`source_addresses`](Self::source_addresses) to drop those too). It gives the application
    /// what tokio's `recv_from` gives, plus the drop count, for a little less CPU per datagram
    /// (docs/results.md, issue 24). Refused with the XDP paths.
    pub fn drops_per_interval(mut self, on: bool) -> Self {
        self.drops_per_interval = on;
        self
    }

    /// XDP paths: the interface to attach to (default: the one holding the bound address).
    pub fn iface(mut self, name: Option<String>) -> Self {
        self.iface = name;
        self
    }
    /// XDP paths: detach an XDP program someone else attached to the interface instead of
    /// refusing (default false).
    pub fn force(mut self, on: bool) -> Self {
        self.force = on;
        self
    }

    pub(super) fn validate(&self) -> Result<(), Error> {
        let bad = |m: String| Err(Error::Config(m));
        if self.method.is_xdp() {
            let m = self.method;
            let refused = [
                (self.gro, "`gro`"),
                (self.timestamps, "`timestamps`"),
                (self.steer == Steer::Cpu, "`steer(Steer::Cpu)`"),
                (self.busy_poll.is_some(), "`busy_poll`"),
                (self.prefer_busy_poll, "`prefer_busy_poll`"),
                (self.busy_poll_budget.is_some(), "`busy_poll_budget`"),
                (self.share_port, "`share_port`"),
                (self.pktinfo, "`pktinfo`"),
                (self.ecn, "`ecn`"),
            ];
            if let Some((_, what)) = refused.iter().find(|(on, _)| *on) {
                return bad(format!("{what} applies to UDP sockets, not to method {m}"));
            }
            if m == Method::XdpDrop && self.sockets != 1 {
                return bad(format!(
                    "method xdp-drop counts in the kernel: it takes one socket (`sockets` got {})",
                    self.sockets
                ));
            }
        }
        if self.sockets == 0 || self.sockets > 1024 {
            return bad(format!("`sockets` must be 1..=1024, got {}", self.sockets));
        }
        if self.batch == 0 || self.batch > 1024 {
            return bad(format!("`batch` must be 1..=1024 (UIO_MAXIOV), got {}", self.batch));
        }
        if let Some(n) = self.ring_buffers
            && (n == 0 || n > MAX_RING_BUFFERS || !n.is_power_of_two())
        {
            return bad(format!("`ring_buffers` must be a power of two in 1..=32768, got {n}"));
        }
        if self.buffer_size == 0 || self.buffer_size > 1 << 20 {
            return bad(format!("`buffer_size` must be 1..=1048576, got {}", self.buffer_size));
        }
        if self.idle.is_zero() {
            return bad("idle interval must be > 0".into());
        }
        if let Some(n) = self.rcvbuf
            && n > MAX_RCVBUF
        {
            return bad(format!("`rcvbuf` must be at most 1 GiB (the kernel's limit), got {n}"));
        }
        if self.method == Method::UringRecv
            && (self.gro || self.timestamps || self.pktinfo || self.ecn)
        {
            return bad(format!(
                "uring-recv reads no control messages, so it cannot report {} per datagram: \
                 use uring (recvmsg) for that",
                if self.gro {
                    "GRO segment sizes"
                } else if self.timestamps {
                    "kernel timestamps"
                } else if self.pktinfo {
                    "the destination address"
                } else {
                    "ECN bits"
                }
            ));
        }
        if !self.source_addresses && self.pktinfo && !self.method.is_xdp() {
            return bad("`pktinfo` is for answering datagrams, which needs their source \
                        addresses: turn `source_addresses` back on"
                .into());
        }
        if self.drops_per_interval && self.method.is_xdp() {
            return bad("`drops_per_interval` applies to UDP sockets, not to the XDP paths".into());
        }
        if self.steer == Steer::Cpu && self.sockets < 2 {
            return bad(format!(
                "`steer(Steer::Cpu)` spreads datagrams over several sockets: give `sockets` 2 or \
                 more (got {}), or keep `steer(Steer::Hash)`",
                self.sockets
            ));
        }
        let memory = self.buffer_memory();
        if memory > MAX_BUFFER_MEMORY {
            return bad(format!(
                "receive buffers would take {} MiB over all sockets, more than the {} MiB \
                 limit: lower `sockets`, `batch`, `ring_buffers` or `buffer_size`",
                memory >> 20,
                MAX_BUFFER_MEMORY >> 20,
            ));
        }
        if let Some(cpus) = &self.cpus {
            let online = sys::online_cpus();
            if let Some(c) = cpus.iter().find(|c| !online.contains(c)) {
                return bad(format!("`cpus`: CPU {c} is not online (online: {online:?})"));
            }
        }
        Ok(())
    }

    /// Bytes of receive buffers the run would allocate at most: per socket, the larger of the
    /// io_uring ring (ring buffers × buffer size) and the recvmmsg arena (batch × buffer size),
    /// since `Auto` may resolve to either.
    fn buffer_memory(&self) -> u128 {
        let buffer = if self.gro { self.buffer_size.max(GRO_BUFFER) } else { self.buffer_size };
        let ring = self.ring_buffers.unwrap_or(if self.gro {
            DEFAULT_RING_BUFFERS_GRO
        } else {
            DEFAULT_RING_BUFFERS
        });
        let per_buffer = match self.method {
            Method::Uring | Method::UringRecv | Method::Auto => ring.max(self.batch),
            Method::Recvmmsg | Method::Epoll => self.batch,
            Method::Recvfrom | Method::XdpDrop => 1,
            Method::Xdp => {
                return self.sockets as u128 * ring as u128 * sys::xsk::FRAME_SIZE as u128;
            }
        };
        self.sockets as u128 * per_buffer as u128 * buffer as u128
    }
}

impl Receiver {
    /// Starts configuring a receiver on `addr` (port 0 picks a free port).
    pub fn builder(addr: SocketAddr) -> ReceiverBuilder {
        ReceiverBuilder {
            addr,
            method: Method::Auto,
            sockets: 1,
            steer: Steer::Hash,
            cpus: None,
            batch: 64,
            full_batch: false,
            ring_buffers: None,
            buffer_size: 2048,
            gro: false,
            busy_poll: None,
            prefer_busy_poll: false,
            busy_poll_budget: None,
            rcvbuf: None,
            timestamps: false,
            pktinfo: false,
            ecn: false,
            spin: false,
            duration: None,
            stop: None,
            idle: Duration::from_millis(100),
            uring_defer: true,
            share_port: false,
            iface: None,
            force: false,
            source_addresses: true,
            drops_per_interval: false,
            inject_multishot_einval: false,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sizes_and_steering_are_bounded_before_any_socket() {
        let b = || Receiver::builder("127.0.0.1:0".parse().unwrap());
        let refused = [
            b().steer(Steer::Cpu),
            b().steer(Steer::Cpu).sockets(1),
            b().rcvbuf(Some(MAX_RCVBUF + 1)),
            b().ring_buffers(32768).buffer_size(1 << 20),
            b().method(Method::Recvmmsg).sockets(1024).batch(1024).buffer_size(4096),
            b().method(Method::Uring).sockets(64).gro(true).ring_buffers(1024),
            // Socket options mean nothing to the XDP paths; xdp-drop has no sockets to spread.
            b().method(Method::Xdp).gro(true),
            b().method(Method::Xdp).timestamps(true),
            b().method(Method::Xdp).prefer_busy_poll(true),
            b().method(Method::Xdp).busy_poll_budget(16),
            b().method(Method::Xdp).sockets(2).steer(Steer::Cpu),
            b().method(Method::XdpDrop).sockets(2),
            b().method(Method::Xdp).sockets(1024).ring_buffers(32768),
            // Answering needs the address.
            b().method(Method::Recvmmsg).source_addresses(false).pktinfo(true),
            b().method(Method::UringRecv).gro(true),
        ];
        for r in refused {
            let e = r.validate().expect_err("must be refused");
            assert!(e.is_config(), "{e}");
            assert!(!e.to_string().contains('\n'), "{e}");
        }
        // The defaults, GRO's and recvfrom's single buffer stay far below the budget.
        for ok in [
            b(),
            b().gro(true).sockets(64),
            b().method(Method::Recvfrom).sockets(1024).buffer_size(1 << 20),
            b().steer(Steer::Cpu).sockets(2),
            b().rcvbuf(Some(MAX_RCVBUF)),
            // Source addresses and control messages are independent.
            b().method(Method::Recvfrom).source_addresses(false),
            b().method(Method::Recvmmsg).source_addresses(false).sockets(2).gro(true),
            b().method(Method::Uring).source_addresses(false).timestamps(true),
            b().source_addresses(false).drops_per_interval(true),
            b().method(Method::Xdp).source_addresses(false),
        ] {
            assert!(ok.validate().is_ok(), "{ok:?}");
        }
        assert_eq!(b().buffer_memory(), 4096 * 2048);
        // auto never resolves to an XDP path (it would take over an interface queue).
        assert!(!Method::ALL.iter().any(|m| m.is_xdp()));
    }

    #[test]
    fn answering_without_addresses_names_the_way_out() {
        let b = || Receiver::builder("127.0.0.1:0".parse().unwrap()).source_addresses(false);
        let msg = |r: ReceiverBuilder| r.validate().expect_err("refused").to_string();
        assert!(msg(b().pktinfo(true)).contains("turn `source_addresses` back on"));
    }
}
