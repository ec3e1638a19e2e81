//! The public receive engine: a builder that creates and binds the sockets, and a `run` that
//! drives one pinned thread per socket, each feeding its own [`Handler`].

use std::net::SocketAddr;
use std::os::fd::{AsRawFd, OwnedFd};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use socket2::Socket;
use udpprobe::{Clock, now_ns};

use crate::batch::Handler;
use crate::cbpf;
use crate::error::Error;
use crate::method::uring::{self, MAX_RING_BUFFERS};
use crate::method::{self, LoopConfig, LoopCtx, Method};
use crate::pull::PullReceiver;
use crate::sys;
use crate::sys::reply::Replier;
use crate::xdp::{self, Attachment, XdpInfo};

/// How datagrams are spread over several `SO_REUSEPORT` sockets.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
#[cfg_attr(feature = "serde", serde(rename_all = "lowercase"))]
pub enum Steer {
    /// The kernel's 4-tuple hash (the default reuseport behaviour).
    #[default]
    Hash,
    /// A classic BPF program picks the socket of the CPU that runs the receive softirq.
    Cpu,
}

impl Steer {
    /// The name used on command lines and in reports.
    pub fn as_str(self) -> &'static str {
        match self {
            Steer::Hash => "hash",
            Steer::Cpu => "cpu",
        }
    }
}

impl std::fmt::Display for Steer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

impl std::str::FromStr for Steer {
    type Err = String;
    fn from_str(s: &str) -> Result<Steer, String> {
        match s {
            "hash" => Ok(Steer::Hash),
            "cpu" => Ok(Steer::Cpu),
            other => Err(format!("unknown steering '{other}' (expected hash or cpu)")),
        }
    }
}

/// Stops a run from any thread (or a signal handler's flag watcher). Cheap to clone.
#[derive(Debug, Clone, Default)]
pub struct StopHandle(Arc<AtomicBool>);

impl StopHandle {
    /// A fresh, not-stopped handle.
    pub fn new() -> StopHandle {
        StopHandle::default()
    }

    /// Asks every receive thread to stop (each notices within one batch or idle wait).
    pub fn stop(&self) {
        self.0.store(true, Ordering::Relaxed);
    }

    /// True once [`StopHandle::stop`] was called, a handler returned `Flow::Stop` or the
    /// duration ran out.
    pub fn is_stopped(&self) -> bool {
        self.0.load(Ordering::Relaxed)
    }
}

/// What a run was actually set up with (after defaults, probing and fallbacks).
#[derive(Debug, Clone, PartialEq)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
pub struct SetupInfo {
    /// The bound address (port resolved).
    pub local_addr: SocketAddr,
    /// The method asked for.
    pub requested_method: Method,
    /// The method that runs (never `Auto`).
    pub method: Method,
    /// Why `auto` did not pick io_uring, if it did not.
    pub fallback_reason: Option<String>,
    /// io_uring setup flags the kernel accepted (uring only).
    pub uring_mode: Option<String>,
    /// io_uring with a busy-poll time: the NAPI busy polling registered on each ring, or why
    /// the kernel refused it (the run then goes on without it).
    #[cfg_attr(feature = "serde", serde(default))]
    pub uring_napi: Option<String>,
    /// Number of sockets (and threads).
    pub sockets: usize,
    /// Steering between the sockets.
    pub steer: Steer,
    /// CPU each socket's thread is pinned to.
    pub cpus: Vec<Option<usize>>,
    /// Receive buffer size granted by the kernel, per socket (bytes, as getsockopt reports).
    pub rcvbuf: Vec<usize>,
    /// Receive buffer size asked for.
    pub rcvbuf_requested: Option<usize>,
    /// Datagrams per `recvmmsg` call.
    pub batch: usize,
    /// recvmmsg waits for a full batch (no MSG_WAITFORONE).
    pub full_batch: bool,
    /// Buffers in each io_uring provided-buffer ring.
    pub ring_buffers: usize,
    /// Payload bytes per receive buffer.
    pub buffer_size: usize,
    /// UDP_GRO enabled.
    pub gro: bool,
    /// SO_TIMESTAMPNS enabled.
    pub timestamps: bool,
    /// IP_PKTINFO / IPV6_RECVPKTINFO enabled (destination address and interface per datagram).
    #[cfg_attr(feature = "serde", serde(default))]
    pub pktinfo: bool,
    /// IP_RECVTOS / IPV6_RECVTCLASS enabled (ECN bits per datagram).
    #[cfg_attr(feature = "serde", serde(default))]
    pub ecn: bool,
    /// SO_BUSY_POLL value (µs).
    pub busy_poll: Option<u32>,
    /// Busy-looping non-blocking receive.
    pub spin: bool,
    /// Run length limit (serialized as seconds).
    #[cfg_attr(
        feature = "serde",
        serde(serialize_with = "secs_opt", deserialize_with = "de_secs_opt")
    )]
    pub duration: Option<Duration>,
    /// How kernel drops are read for this method.
    pub drops_source: String,
    /// Lean receive ([`ReceiverBuilder::lean`]): no source address and no control message per
    /// datagram; flows are keyed by the probe header's flow id alone and drops are read with
    /// SO_MEMINFO per interval. Absent in reports written before it existed (read as false).
    #[cfg_attr(feature = "serde", serde(default))]
    pub lean: bool,
    /// The XDP paths: interface, queues, attach and socket mode.
    #[cfg_attr(feature = "serde", serde(default, skip_serializing_if = "Option::is_none"))]
    pub xdp: Option<XdpInfo>,
}

#[cfg(feature = "serde")]
fn secs_opt<S: serde::Serializer>(d: &Option<Duration>, s: S) -> Result<S::Ok, S::Error> {
    match d {
        Some(d) => s.serialize_some(&d.as_secs_f64()),
        None => s.serialize_none(),
    }
}

#[cfg(feature = "serde")]
fn de_secs_opt<'de, D: serde::Deserializer<'de>>(d: D) -> Result<Option<Duration>, D::Error> {
    let v: Option<f64> = serde::Deserialize::deserialize(d)?;
    v.map(|s| Duration::try_from_secs_f64(s).map_err(serde::de::Error::custom)).transpose()
}

/// What a handler factory learns about the thread it makes a handler for.
///
/// A handler that answers datagrams takes a [`Replier`] for its thread's socket from
/// [`ThreadInfo::replier`]:
///
/// ```
/// use std::time::Duration;
/// use udprx::{Batch, Flow, Handler, Receiver, Replier};
///
/// struct Echo(Replier);
/// impl Handler for Echo {
///     fn on_batch(&mut self, batch: &Batch<'_>) -> Flow {
///         for d in batch.iter() {
///             let _ = self.0.queue_reply(&d, d.payload); // copied into the replier's slots
///         }
///         let _ = self.0.flush(); // one sendmmsg for the batch
///         Flow::Continue
///     }
/// }
///
/// let rx = Receiver::builder("127.0.0.1:0".parse()?)
///     .duration(Some(Duration::from_millis(50)))
///     .build()?;
/// rx.run(|info| Echo(info.replier().expect("a UDP socket")))?;
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Debug, Clone)]
pub struct ThreadInfo {
    /// Socket (and thread) index.
    pub socket: usize,
    /// CPU the thread is pinned to.
    pub cpu: Option<usize>,
    /// The method that runs (resolved, never `Auto`).
    pub method: Method,
    /// Batches carry kernel receive timestamps.
    pub timestamps: bool,
    /// Buffers may hold several GRO segments.
    pub gro: bool,
    /// The thread's UDP socket (a shared duplicate), for [`ThreadInfo::replier`]; `None` on the
    /// XDP paths.
    socket_fd: Option<Arc<OwnedFd>>,
    /// Datagrams per receive batch, the capacity of the repliers made here.
    batch: usize,
}

impl ThreadInfo {
    /// A [`Replier`] sending through this thread's socket, with room for one receive batch of
    /// queued replies ([`DEFAULT_REPLY_SLOT`](crate::DEFAULT_REPLY_SLOT) bytes each). Call it
    /// in the handler factory and keep it in the handler. Refused (`Unsupported`) on the XDP
    /// paths, which receive through no UDP socket.
    pub fn replier(&self) -> std::io::Result<Replier> {
        match &self.socket_fd {
            Some(fd) => Replier::from_shared(
                fd.clone(),
                self.batch.clamp(1, 1024),
                crate::sys::reply::DEFAULT_REPLY_SLOT,
            ),
            None => Err(std::io::Error::new(
                std::io::ErrorKind::Unsupported,
                "the XDP paths receive through no UDP socket to reply with",
            )),
        }
    }
}

/// Per-thread outcome of a run.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
pub struct ThreadResult {
    /// Socket (and thread) index.
    pub socket: usize,
    /// CPU the thread was pinned to.
    pub cpu: Option<usize>,
    /// User CPU time of the thread during the run (getrusage RUSAGE_THREAD), ns.
    pub cpu_user_ns: u64,
    /// System CPU time of the thread during the run, ns.
    pub cpu_sys_ns: u64,
    /// The socket's kernel drop counter: the largest of the last SO_RXQ_OVFL (or, lean,
    /// SO_MEMINFO) value, SO_MEMINFO read at the end and the `drops` column of
    /// /proc/net/udp{,6} read at the end.
    pub kernel_drops: u64,
    /// io_uring: completions that found the buffer ring empty.
    pub enobufs: u64,
    /// io_uring: times the multishot request was re-armed.
    pub rearms: u64,
    /// Buffers handed to the handler (a GRO buffer counts once).
    pub buffers: u64,
    /// Batches handed to the handler.
    pub batches: u64,
    /// AF_XDP: frames that were not a whole Ethernet/IP/UDP datagram (counted and skipped).
    #[cfg_attr(feature = "serde", serde(default))]
    pub bad_frames: u64,
    /// io_uring: NAPI busy polling was registered on this thread's ring.
    #[cfg_attr(feature = "serde", serde(default))]
    pub napi: bool,
    /// `auto` only: why this socket's thread left io_uring at run time for `recvmmsg` (the
    /// kernel refused the first multishot request); `None` when it did not.
    pub fallback: Option<String>,
}

/// Everything a run gives back.
#[derive(Debug)]
pub struct RunOutput<H> {
    /// The handlers, in socket order.
    pub handlers: Vec<H>,
    /// Per-thread results, in socket order.
    pub threads: Vec<ThreadResult>,
    /// Wall-clock time of the run.
    pub elapsed: Duration,
}

/// Configures a [`Receiver`]. See [`Receiver::builder`].
#[derive(Debug, Clone)]
pub struct ReceiverBuilder {
    addr: SocketAddr,
    method: Method,
    sockets: usize,
    steer: Steer,
    cpus: Option<Vec<usize>>,
    batch: usize,
    full_batch: bool,
    ring_buffers: Option<usize>,
    buffer_size: usize,
    gro: bool,
    busy_poll: Option<u32>,
    rcvbuf: Option<usize>,
    timestamps: bool,
    pktinfo: bool,
    ecn: bool,
    spin: bool,
    duration: Option<Duration>,
    stop: Option<StopHandle>,
    idle: Duration,
    uring_defer: bool,
    share_port: bool,
    iface: Option<String>,
    force: bool,
    lean: bool,
    inject_multishot_einval: bool,
}

/// Default io_uring ring size; smaller with GRO, whose buffers are 64 KiB each.
const DEFAULT_RING_BUFFERS: usize = 4096;
const DEFAULT_RING_BUFFERS_GRO: usize = 256;
/// Payload buffer size with GRO: the largest coalesced UDP payload.
const GRO_BUFFER: usize = 65536;
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
    /// CPUs to pin socket threads to: socket i on `cpus[i % len]`. Default: socket i on core
    /// i mod ncores. An empty list disables pinning.
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
    /// SO_BUSY_POLL in µs.
    pub fn busy_poll(mut self, usec: Option<u32>) -> Self {
        self.busy_poll = usec;
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

    /// Fault injection for tests: the io_uring loop treats its first completion as the
    /// kernel's EINVAL refusal of multishot receive (a kernel without it), before anything was
    /// received. Not for applications.
    #[doc(hidden)]
    pub fn inject_multishot_einval(mut self, on: bool) -> Self {
        self.inject_multishot_einval = on;
        self
    }

    /// Lean receive (default false) for `recvfrom`, `recvmmsg` and `uring-recv`: no source
    /// address and no control message per datagram, which is what a bare C loop asks of the
    /// kernel. SO_RXQ_OVFL is not set; the socket's drop counter is read with SO_MEMINFO once
    /// per idle interval, when idle and at the end, so the final count stays exact.
    ///
    /// What it trades: every datagram reports the source `0.0.0.0:0`, so flows are told apart
    /// by the probe header's flow id alone (two senders using the same flow ids are counted as
    /// one flow, their sequence numbers mixed), and the live drop count lags by up to an idle
    /// interval. Refused with GRO or timestamps (both need control messages), with `uring`
    /// (use `uring-recv`, which is lean already), with `auto` (name the method) and with the
    /// XDP paths.
    pub fn lean(mut self, on: bool) -> Self {
        self.lean = on;
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

    fn validate(&self) -> Result<(), Error> {
        let bad = |m: String| Err(Error::Config(m));
        if self.method.is_xdp() {
            let m = self.method;
            let refused = [
                (self.gro, "`gro`"),
                (self.timestamps, "`timestamps`"),
                (self.steer == Steer::Cpu, "`steer(Steer::Cpu)`"),
                (self.busy_poll.is_some(), "`busy_poll`"),
                (self.share_port, "`share_port`"),
                (self.pktinfo, "`pktinfo`"),
                (self.ecn, "`ecn`"),
                (self.lean, "`lean`"),
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
        if self.lean {
            let needs_cmsg = [
                (self.gro, "GRO segment sizes", "`gro`"),
                (self.timestamps, "kernel timestamps", "`timestamps`"),
                (self.pktinfo, "the destination address", "`pktinfo`"),
                (self.ecn, "ECN bits", "`ecn`"),
            ];
            if let Some((_, what, call)) = needs_cmsg.iter().find(|(on, _, _)| *on) {
                return bad(format!(
                    "`lean` reads no control messages, so it cannot report {what} per datagram: \
                     turn off `lean` or {call}"
                ));
            }
            match self.method {
                Method::Recvfrom | Method::Recvmmsg | Method::UringRecv => {}
                Method::Uring => {
                    return bad("`lean` with `method(Method::Uring)`: use \
                                `method(Method::UringRecv)` (io_uring recv without address or \
                                control messages: the lean io_uring path)"
                        .into());
                }
                Method::Auto => {
                    return bad("`lean` needs an explicit `method`: recvfrom, recvmmsg or \
                                uring-recv"
                        .into());
                }
                Method::Xdp | Method::XdpDrop => {
                    return bad("`lean` applies to UDP sockets, not to the XDP paths".into());
                }
            }
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
            Method::Recvmmsg => self.batch,
            Method::Recvfrom | Method::XdpDrop => 1,
            Method::Xdp => {
                return self.sockets as u128 * ring as u128 * sys::xsk::FRAME_SIZE as u128;
            }
        };
        self.sockets as u128 * per_buffer as u128 * buffer as u128
    }

    /// Resolves the method, creates and binds every socket now (so port 0 resolves), and
    /// attaches the steering program.
    ///
    /// Refused with [`Error::Config`] (a one-line reason) before anything is created: sockets
    /// outside 1..=1024, batch outside 1..=1024, a ring size that is not a power of two up to
    /// 32768, a buffer size outside 1..=1 MiB, receive buffers over [`MAX_BUFFER_MEMORY`] in
    /// all, an SO_RCVBUF over [`MAX_RCVBUF`], CPU steering with fewer than two sockets, or an
    /// offline CPU.
    ///
    /// With [`Method::Auto`], a refusal the kernel gives at set-up or run time is a downgrade,
    /// not an error, and is reported: io_uring unavailable → `recvmmsg`
    /// ([`SetupInfo::fallback_reason`]); UDP_GRO refused → the same method without GRO (also in
    /// `fallback_reason`); the first multishot request refused with EINVAL → that socket's
    /// thread goes on with `recvmmsg` ([`ThreadResult::fallback`]).
    pub fn build(mut self) -> Result<Receiver, Error> {
        self.validate()?;
        if self.method.is_xdp() {
            return self.build_xdp();
        }
        let (method, mut fallback_reason, uring_mode) = match self.method {
            Method::Auto => match uring::probe(self.uring_defer) {
                Ok(mode) => (Method::Uring, None, Some(mode.as_str().to_string())),
                Err(reason) => (Method::Recvmmsg, Some(reason), None),
            },
            m @ (Method::Uring | Method::UringRecv) => match uring::probe(self.uring_defer) {
                Ok(mode) => (m, None, Some(mode.as_str().to_string())),
                Err(reason) => return Err(Error::UringUnavailable(reason)),
            },
            m => (m, None, None),
        };
        let buffer_size =
            if self.gro { self.buffer_size.max(GRO_BUFFER) } else { self.buffer_size };
        let ring_buffers = self.ring_buffers.unwrap_or(if self.gro {
            DEFAULT_RING_BUFFERS_GRO
        } else {
            DEFAULT_RING_BUFFERS
        });
        let is_uring = matches!(method, Method::Uring | Method::UringRecv);
        let uring_napi = match self.busy_poll {
            Some(us) if is_uring => Some(uring::napi_probe(us).unwrap_or_else(|why| why)),
            _ => None,
        };
        let napi_busy_poll = if is_uring { self.busy_poll } else { None };
        let uses_cmsg = !self.lean
            && (!matches!(method, Method::Recvfrom | Method::UringRecv)
                || self.gro
                || self.timestamps
                || self.pktinfo
                || self.ecn);
        let blocking = !self.spin && !is_uring;
        let opts = sys::socket::SockOpts {
            reuse_port: self.sockets > 1 || self.share_port,
            rcvbuf: self.rcvbuf,
            busy_poll: self.busy_poll,
            timestamps: self.timestamps,
            gro: self.gro,
            rxq_ovfl: uses_cmsg,
            pktinfo: self.pktinfo,
            ecn: self.ecn,
            nonblocking: self.spin || is_uring,
            read_timeout: if blocking { Some(self.idle) } else { None },
        };
        let cpus = assign_cpus(self.sockets, self.steer, self.cpus.as_deref())?;

        // SO_REUSEPORT lets our first bind succeed on a port someone else holds (joining their
        // group); a probe without it tells. Port 0 always gets a fresh port.
        if opts.reuse_port
            && !self.share_port
            && self.addr.port() != 0
            && sys::socket::port_in_use(self.addr)?
        {
            return Err(Error::PortInUse { addr: self.addr });
        }
        let mut sockets = Vec::with_capacity(self.sockets);
        let mut rcvbuf = Vec::with_capacity(self.sockets);
        let mut opts = opts;
        let (first, granted) = match sys::socket::open_bound(self.addr, &opts) {
            // `auto` takes what the kernel gives: without GRO, reported.
            Err(Error::GroRefused(e)) if self.method == Method::Auto => {
                let why = format!("UDP_GRO refused by the kernel ({e}); receiving without GRO");
                fallback_reason = Some(match fallback_reason {
                    Some(r) => format!("{r}; {why}"),
                    None => why,
                });
                self.gro = false;
                opts.gro = false;
                sys::socket::open_bound(self.addr, &opts)?
            }
            r => r?,
        };
        let local_addr = sys::socket::local_addr(&first)?;
        sockets.push(first);
        rcvbuf.push(granted);
        for _ in 1..self.sockets {
            let (s, granted) = sys::socket::open_bound(local_addr, &opts)?;
            sockets.push(s);
            rcvbuf.push(granted);
        }
        if self.steer == Steer::Cpu {
            let prog = cbpf::steer_by_cpu(self.sockets as u32);
            sys::socket::attach_reuseport_cbpf(&sockets[0], &prog).map_err(Error::CbpfRefused)?;
        }
        let drops_source = if self.lean {
            "SO_MEMINFO per interval, /proc/net/udp at end (lean: no control messages)"
        } else if uses_cmsg {
            "SO_RXQ_OVFL, /proc/net/udp at end"
        } else if method == Method::UringRecv {
            "/proc/net/udp at end (io_uring recv reads no control messages)"
        } else {
            "/proc/net/udp at end (plain recvfrom reads no control messages)"
        };
        let setup = SetupInfo {
            local_addr,
            requested_method: self.method,
            method,
            fallback_reason,
            uring_mode,
            uring_napi,
            sockets: self.sockets,
            steer: self.steer,
            cpus,
            rcvbuf,
            rcvbuf_requested: self.rcvbuf,
            batch: self.batch,
            full_batch: self.full_batch,
            ring_buffers,
            buffer_size,
            gro: self.gro,
            timestamps: self.timestamps,
            pktinfo: self.pktinfo,
            ecn: self.ecn,
            busy_poll: self.busy_poll,
            spin: self.spin,
            duration: self.duration,
            drops_source: drops_source.to_string(),
            lean: self.lean,
            xdp: None,
        };
        let cfg = LoopConfig {
            batch: self.batch,
            full_batch: self.full_batch,
            ring_buffers,
            buffer_size,
            gro: self.gro,
            timestamps: self.timestamps,
            pktinfo: self.pktinfo,
            ecn: self.ecn,
            spin: self.spin,
            idle_ns: self.idle.as_nanos().min(u64::MAX as u128) as u64,
            uring_defer: self.uring_defer,
            napi_busy_poll,
            fallback_on_refusal: self.method == Method::Auto,
            inject_multishot_einval: self.inject_multishot_einval,
            lean: self.lean,
        };
        Ok(Receiver { sockets, setup, cfg, stop: self.stop.unwrap_or_default(), xdp: None })
    }

    /// `xdp` / `xdp-drop`: a plain UDP socket holds the port (and resolves port 0), then the
    /// program is loaded and attached, with one AF_XDP socket per queue for `xdp`.
    fn build_xdp(self) -> Result<Receiver, Error> {
        let method = self.method;
        let ring_buffers = self.ring_buffers.unwrap_or(DEFAULT_RING_BUFFERS);
        let opts = sys::socket::SockOpts {
            reuse_port: false,
            rcvbuf: None,
            busy_poll: None,
            timestamps: false,
            gro: false,
            rxq_ovfl: false,
            pktinfo: false,
            ecn: false,
            nonblocking: true,
            read_timeout: None,
        };
        // The interface first: an address on no interface is an XDP error, not a bind error.
        xdp::resolve_iface(self.addr, self.iface.as_deref())?;
        let (holder, _) = sys::socket::open_bound(self.addr, &opts)?;
        let local_addr = sys::socket::local_addr(&holder)?;
        let queues = if method == Method::Xdp { self.sockets } else { 1 };
        let cpus = assign_cpus(queues, Steer::Hash, self.cpus.as_deref())?;
        let attachment = Attachment::attach(&xdp::Request {
            addr: local_addr,
            iface: self.iface.as_deref(),
            queues,
            frames: ring_buffers as u32,
            kind: if method == Method::Xdp { xdp::Kind::Redirect } else { xdp::Kind::Drop },
            force: self.force,
        })?;
        let drops_source = if method == Method::Xdp {
            "XDP_STATISTICS (rx_dropped + rx_ring_full) of each AF_XDP socket"
        } else {
            "none: the XDP program drops every matching datagram after counting it"
        };
        let setup = SetupInfo {
            local_addr,
            requested_method: method,
            method,
            fallback_reason: None,
            uring_mode: None,
            sockets: queues,
            steer: Steer::Hash,
            cpus,
            rcvbuf: Vec::new(),
            rcvbuf_requested: None,
            batch: self.batch,
            full_batch: false,
            ring_buffers,
            buffer_size: sys::xsk::FRAME_SIZE,
            gro: false,
            timestamps: false,
            pktinfo: false,
            ecn: false,
            busy_poll: None,
            spin: self.spin,
            duration: self.duration,
            drops_source: drops_source.to_string(),
            lean: false,
            uring_napi: None,
            xdp: Some(attachment.info.clone()),
        };
        let cfg = LoopConfig {
            batch: self.batch,
            full_batch: false,
            ring_buffers,
            buffer_size: sys::xsk::FRAME_SIZE,
            gro: false,
            timestamps: false,
            pktinfo: false,
            ecn: false,
            spin: self.spin,
            idle_ns: self.idle.as_nanos().min(u64::MAX as u128) as u64,
            uring_defer: false,
            napi_busy_poll: None,
            lean: false,
            fallback_on_refusal: false,
            inject_multishot_einval: false,
        };
        Ok(Receiver {
            sockets: vec![holder],
            setup,
            cfg,
            stop: self.stop.unwrap_or_default(),
            xdp: Some(attachment),
        })
    }
}

/// Socket i's CPU: `cpus[i % len]`, default the i-th online CPU (mod their number). With CPU
/// steering the CBPF program sends CPU c's datagrams to socket `c % sockets`, so the list is
/// reordered to put each socket on a CPU it receives for; refused if that is impossible.
fn assign_cpus(
    sockets: usize,
    steer: Steer,
    cpus: Option<&[usize]>,
) -> Result<Vec<Option<usize>>, Error> {
    let online;
    let list = match cpus {
        Some([]) => return Ok(vec![None; sockets]),
        Some(v) => v,
        None => {
            online = sys::online_cpus();
            &online[..]
        }
    };
    let mut out: Vec<Option<usize>> = (0..sockets).map(|i| Some(list[i % list.len()])).collect();
    if steer == Steer::Cpu && sockets > 1 {
        let mut by_slot = vec![None; sockets];
        for c in out.iter().flatten() {
            let slot = &mut by_slot[c % sockets];
            if slot.is_none() {
                *slot = Some(*c);
            }
        }
        if by_slot.iter().any(Option::is_none) {
            return Err(Error::Config(format!(
                "`steer(Steer::Cpu)` sends CPU c to socket c mod {sockets}, but the CPUs {out:?} \
                 do not cover every socket; give `cpus` with one CPU per socket (e.g. 0-{}) or \
                 use `steer(Steer::Hash)`",
                sockets - 1
            )));
        }
        out = by_slot;
    }
    Ok(out)
}

/// A bound receiver, ready to [`run`](Receiver::run).
#[derive(Debug)]
pub struct Receiver {
    sockets: Vec<Socket>,
    setup: SetupInfo,
    cfg: LoopConfig,
    stop: StopHandle,
    /// The XDP paths: the attached program and its sockets (detached when dropped).
    xdp: Option<Attachment>,
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
            lean: false,
            inject_multishot_einval: false,
        }
    }

    /// The address the sockets are bound to.
    pub fn local_addr(&self) -> SocketAddr {
        self.setup.local_addr
    }

    /// What the run is set up with.
    pub fn setup(&self) -> &SetupInfo {
        &self.setup
    }

    /// A handle that stops the run.
    pub fn stop_handle(&self) -> StopHandle {
        self.stop.clone()
    }

    /// Turns the receiver into one [`PullReceiver`] per socket, for an application that runs
    /// its own loop (or event loop) instead of [`run`](Self::run)'s threads. Call it on the
    /// thread that will receive: io_uring rings are created here and a `PullReceiver` is not
    /// `Send`. Nothing is pinned, and `duration` and the stop handle do not apply (the caller's
    /// loop decides when to stop).
    ///
    /// Refused ([`Error::Config`]) for the XDP paths, which receive through AF_XDP rings.
    ///
    /// ```
    /// let rx = udprx::Receiver::builder("127.0.0.1:0".parse()?).sockets(2).build()?;
    /// let pulls = rx.into_pull()?;
    /// assert_eq!(pulls.len(), 2);
    /// assert_eq!(pulls[1].index(), 1);
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn into_pull(self) -> Result<Vec<PullReceiver>, Error> {
        if self.xdp.is_some() {
            return Err(Error::Config(format!(
                "method {} has no pull receiver: its datagrams arrive in AF_XDP rings, not on a \
                 UDP socket; use Receiver::run",
                self.setup.method
            )));
        }
        let Receiver { sockets, setup, cfg, .. } = self;
        sockets
            .into_iter()
            .enumerate()
            .map(|(i, s)| PullReceiver::new(s, i, setup.method, &cfg))
            .collect()
    }

    /// Runs one pinned thread per socket until the stop handle fires, a handler returns
    /// `Flow::Stop`, the duration runs out, or a thread fails (then the others are stopped and
    /// the first error is returned). `factory` makes each thread's handler on that thread.
    pub fn run<H, F>(self, factory: F) -> Result<RunOutput<H>, Error>
    where
        H: Handler,
        F: Fn(&ThreadInfo) -> H + Sync,
    {
        let start = Instant::now();
        let deadline_ns = self.setup.duration.map(|d| {
            now_ns(Clock::Monotonic).saturating_add(d.as_nanos().min(u64::MAX as u128) as u64)
        });
        let Receiver { sockets, setup, cfg, stop, mut xdp } = self;
        let flag: &AtomicBool = &stop.0;
        let factory = &factory;
        let setup = &setup;
        let cfg = &cfg;
        let sources: Vec<Source<'_>> = match xdp.as_mut() {
            Some(a) => match &a.counter {
                Some(c) => vec![Source::Counter(c)],
                None => a.xsks.iter_mut().map(Source::Xsk).collect(),
            },
            None => sockets.into_iter().map(Source::Socket).collect(),
        };
        let results: Vec<Result<(H, ThreadResult), Error>> = std::thread::scope(|s| {
            let handles: Vec<_> = sources
                .into_iter()
                .enumerate()
                .map(|(i, sock)| {
                    let socket_fd = match &sock {
                        Source::Socket(s) => s.try_clone().ok().map(|s| Arc::new(OwnedFd::from(s))),
                        _ => None,
                    };
                    let info = ThreadInfo {
                        socket: i,
                        cpu: setup.cpus[i],
                        method: setup.method,
                        timestamps: setup.timestamps,
                        gro: setup.gro,
                        socket_fd,
                        batch: cfg.batch,
                    };
                    std::thread::Builder::new().name(format!("udprx-{i}")).spawn_scoped(
                        s,
                        move || {
                            let r = thread_main(sock, info, cfg, factory, flag, deadline_ns);
                            if r.is_err() {
                                flag.store(true, Ordering::Relaxed);
                            }
                            r
                        },
                    )
                })
                .collect();
            handles
                .into_iter()
                .enumerate()
                .map(|(i, h)| match h {
                    Ok(h) => h.join().unwrap_or(Err(Error::ThreadPanicked(i))),
                    Err(e) => {
                        flag.store(true, Ordering::Relaxed);
                        Err(Error::Recv { socket: i, call: "thread spawn", source: e })
                    }
                })
                .collect()
        });
        // Detach the XDP program now, before the results are looked at (dropping the receiver
        // on any other way out, a panic included, detaches it too).
        drop(xdp);
        let mut handlers = Vec::with_capacity(results.len());
        let mut threads = Vec::with_capacity(results.len());
        for r in results {
            let (h, t) = r?;
            handlers.push(h);
            threads.push(t);
        }
        Ok(RunOutput { handlers, threads, elapsed: start.elapsed() })
    }
}

/// What one receive thread reads from.
enum Source<'a> {
    /// A UDP socket (the socket methods), handed to the thread's pull receiver.
    Socket(Socket),
    /// An AF_XDP socket (`xdp`).
    Xsk(&'a mut sys::xsk::Xsk),
    /// The per-CPU counter map (`xdp-drop`).
    Counter(&'a std::os::fd::OwnedFd),
}

fn thread_main<H, F>(
    source: Source<'_>,
    info: ThreadInfo,
    cfg: &LoopConfig,
    factory: &F,
    stop: &AtomicBool,
    deadline_ns: Option<u64>,
) -> Result<(H, ThreadResult), Error>
where
    H: Handler,
    F: Fn(&ThreadInfo) -> H + Sync,
{
    if let Some(cpu) = info.cpu
        && !sys::pin_current_thread(cpu)
    {
        return Err(Error::Pin { socket: info.socket, cpu });
    }
    let mut handler = factory(&info);
    let (u0, s0) = sys::thread_rusage();
    let mut ctx = LoopCtx::new(info.socket, cfg, &mut handler, stop, deadline_ns);
    let mut xsk_drops = None;
    // The socket's drop counter once the loop has ended, read while the socket is still open:
    // SO_MEMINFO and the `drops` column of /proc/net/udp{,6} (the same counter, two ways).
    let mut end_drops = 0u64;
    let mut fallback = None;
    let r = match source {
        Source::Xsk(x) => {
            let r = method::xdp::run(&mut ctx, x);
            xsk_drops = x.stats().ok().map(|s| s.drops());
            r
        }
        Source::Counter(c) => method::xdp::run_counter(&mut ctx, c),
        // The socket methods: the loop is the pull receiver's `recv_batch`, handed on.
        Source::Socket(sock) => {
            let inode = sys::proc::socket_inode(sock.as_raw_fd());
            match PullReceiver::new(sock, info.socket, info.method, cfg) {
                Ok(mut rx) => {
                    let r = method::drive(&mut ctx, &mut rx);
                    fallback = rx.fallback().map(str::to_string);
                    let fd = rx.as_raw_fd();
                    let meminfo = sys::socket::meminfo_drops(fd).map(u64::from).unwrap_or(0);
                    let proc = inode.and_then(sys::proc::udp_drops).unwrap_or(0);
                    end_drops = meminfo.max(proc);
                    r
                }
                Err(e) => Err(e),
            }
        }
    };
    let stats = ctx.stats;
    let (u1, s1) = sys::thread_rusage();
    r?;
    let result = ThreadResult {
        socket: info.socket,
        cpu: info.cpu,
        cpu_user_ns: u1.saturating_sub(u0),
        cpu_sys_ns: s1.saturating_sub(s0),
        kernel_drops: end_drops
            .max(stats.kernel_drops.unwrap_or(0) as u64)
            .max(xsk_drops.unwrap_or(0)),
        enobufs: stats.enobufs,
        rearms: stats.rearms,
        buffers: stats.buffers,
        batches: stats.batches,
        bad_frames: stats.bad_frames,
        napi: stats.napi,
        fallback,
    };
    Ok((handler, result))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cpu_assignment() {
        assert_eq!(
            assign_cpus(3, Steer::Hash, Some(&[5, 6])).unwrap(),
            [Some(5), Some(6), Some(5)]
        );
        assert_eq!(assign_cpus(2, Steer::Hash, Some(&[])).unwrap(), [None, None]);
        // CPU steering puts CPU c on socket c % n.
        assert_eq!(assign_cpus(2, Steer::Cpu, Some(&[3, 2])).unwrap(), [Some(2), Some(3)]);
        assert!(assign_cpus(2, Steer::Cpu, Some(&[0, 2])).unwrap_err().is_config());
        assert_eq!(assign_cpus(1, Steer::Cpu, Some(&[1])).unwrap(), [Some(1)]);
        let default = assign_cpus(2, Steer::Hash, None).unwrap();
        assert!(default.iter().all(Option::is_some));
    }

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
            b().method(Method::Xdp).sockets(2).steer(Steer::Cpu),
            b().method(Method::XdpDrop).sockets(2),
            b().method(Method::Xdp).sockets(1024).ring_buffers(32768),
            // Lean: no control messages, no io_uring recvmsg form, an explicit method.
            b().method(Method::Recvmmsg).lean(true).gro(true),
            b().method(Method::Recvfrom).lean(true).timestamps(true),
            b().method(Method::UringRecv).lean(true).gro(true),
            b().method(Method::Uring).lean(true),
            b().lean(true),
            b().method(Method::Xdp).lean(true),
            b().method(Method::XdpDrop).lean(true),
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
            b().method(Method::Recvfrom).lean(true),
            b().method(Method::Recvmmsg).lean(true).sockets(2),
            b().method(Method::UringRecv).lean(true),
        ] {
            assert!(ok.validate().is_ok(), "{ok:?}");
        }
        assert_eq!(b().buffer_memory(), 4096 * 2048);
        // auto never resolves to an XDP path (it would take over an interface queue).
        assert!(!Method::ALL.iter().any(|m| m.is_xdp()));
    }

    #[test]
    fn lean_conflicts_name_the_way_out() {
        let b = || Receiver::builder("127.0.0.1:0".parse().unwrap()).lean(true);
        let msg = |r: ReceiverBuilder| r.validate().expect_err("refused").to_string();
        assert!(msg(b().method(Method::Recvmmsg).gro(true)).contains("turn off `lean` or `gro`"));
        assert!(msg(b().method(Method::Recvfrom).timestamps(true)).contains("`timestamps`"));
        assert!(msg(b().method(Method::Recvmmsg).pktinfo(true)).contains("`pktinfo`"));
        assert!(msg(b().method(Method::Recvmmsg).ecn(true)).contains("`ecn`"));
        assert!(msg(b().method(Method::Uring)).contains("use `method(Method::UringRecv)`"));
        assert!(msg(b()).contains("explicit `method`"));
        assert!(msg(b().method(Method::Xdp)).contains("`lean`"));
    }

    #[test]
    fn lean_setup_round_trips_and_old_json_reads_as_not_lean() {
        let rx = Receiver::builder("127.0.0.1:0".parse().unwrap())
            .method(Method::Recvmmsg)
            .lean(true)
            .build()
            .expect("build");
        let s = rx.setup();
        assert!(s.lean);
        assert!(s.drops_source.starts_with("SO_MEMINFO per interval"), "{}", s.drops_source);
        let mut v = serde_json::to_value(s).unwrap();
        assert_eq!(v["lean"], true);
        let back: SetupInfo = serde_json::from_value(v.clone()).unwrap();
        assert_eq!(&back, s);
        // A report written before the field existed still loads, as not lean.
        v.as_object_mut().unwrap().remove("lean");
        let old: SetupInfo = serde_json::from_value(v).unwrap();
        assert!(!old.lean);
        let plain = Receiver::builder("127.0.0.1:0".parse().unwrap())
            .method(Method::Recvmmsg)
            .build()
            .expect("build");
        assert!(!plain.setup().lean);
        assert!(plain.setup().drops_source.starts_with("SO_RXQ_OVFL"));
    }

    #[test]
    fn names_round_trip() {
        for m in [
            Method::Recvfrom,
            Method::Recvmmsg,
            Method::Uring,
            Method::Auto,
            Method::Xdp,
            Method::XdpDrop,
        ] {
            assert_eq!(m.to_string().parse::<Method>(), Ok(m));
            let j = serde_json::to_string(&m).unwrap();
            assert_eq!(j, format!("\"{m}\""));
        }
        for s in [Steer::Hash, Steer::Cpu] {
            assert_eq!(s.to_string().parse::<Steer>(), Ok(s));
        }
        assert!("fast".parse::<Method>().is_err());
        assert!("rr".parse::<Steer>().is_err());
    }
}
