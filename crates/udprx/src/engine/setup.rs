//! What a receiver reports: the set-up it resolved to, what each thread's handler factory
//! learns, and what each thread and the whole run give back.

use std::net::SocketAddr;
use std::os::fd::OwnedFd;
use std::sync::Arc;
use std::time::Duration;

use super::Steer;
use crate::method::Method;
use crate::sys::reply::Replier;
use crate::xdp::XdpInfo;

/// What a run was actually set up with (after defaults, probing and fallbacks).
#[derive(Debug, Clone, PartialEq)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
#[non_exhaustive]
pub struct SetupInfo {
    /// The bound address (port resolved).
    pub local_addr: SocketAddr,
    /// The method asked for.
    pub requested_method: Method,
    /// The method that runs (never `Auto`).
    pub method: Method,
    /// [`Method::Auto`]: why it chose [`method`](Self::method), then any downgrade it made
    /// (UDP_GRO refused). `None` for a method named explicitly.
    pub fallback_reason: Option<String>,
    /// io_uring setup flags the kernel accepted (uring only).
    pub uring_mode: Option<String>,
    /// io_uring with a busy-poll time: the NAPI busy polling registered on each ring, or why
    /// the kernel refused it (the run then goes on without it).
    #[cfg_attr(feature = "serde", serde(default))]
    pub uring_napi: Option<String>,
    /// `epoll` with a busy-poll time: the busy-poll parameters the kernel holds for an epoll
    /// instance (set with EPIOCSPARAMS and read back with EPIOCGPARAMS), or why epoll busy
    /// polling is off (a kernel before 6.9 refuses; the run then goes on without it).
    #[cfg_attr(feature = "serde", serde(default))]
    pub epoll_busy_poll: Option<String>,
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
    /// SO_PREFER_BUSY_POLL set (and, with `epoll` busy polling, `prefer_busy_poll` asked of the
    /// epoll instance).
    #[cfg_attr(feature = "serde", serde(default))]
    pub prefer_busy_poll: bool,
    /// SO_BUSY_POLL_BUDGET (and, with `epoll` busy polling, the epoll instance's budget).
    #[cfg_attr(feature = "serde", serde(default))]
    pub busy_poll_budget: Option<u16>,
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
    /// The kernel hands over each datagram's source address
    /// ([`ReceiverBuilder::source_addresses`](super::ReceiverBuilder::source_addresses); false
    /// for `uring-recv`, which never reads one). Absent in reports written before it existed
    /// (read as true).
    #[cfg_attr(feature = "serde", serde(default = "yes"))]
    pub source_addresses: bool,
    /// The XDP paths: interface, queues, attach and socket mode.
    #[cfg_attr(feature = "serde", serde(default, skip_serializing_if = "Option::is_none"))]
    pub xdp: Option<XdpInfo>,
}

#[cfg(feature = "serde")]
fn yes() -> bool {
    true
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
#[non_exhaustive]
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
    pub(super) socket_fd: Option<Arc<OwnedFd>>,
    /// Datagrams per receive batch, the capacity of the repliers made here.
    pub(super) batch: usize,
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
#[non_exhaustive]
pub struct ThreadResult {
    /// Socket (and thread) index.
    pub socket: usize,
    /// CPU the thread was pinned to.
    pub cpu: Option<usize>,
    /// User CPU time of the thread during the run (getrusage RUSAGE_THREAD), ns.
    pub cpu_user_ns: u64,
    /// System CPU time of the thread during the run, ns.
    pub cpu_sys_ns: u64,
    /// The socket's kernel drop counter: the larger of the last SO_RXQ_OVFL (or, with
    /// `drops_per_interval`, SO_MEMINFO) value and the counter read at the end (SO_MEMINFO, or the `drops` column of
    /// /proc/net/udp{,6} where SO_MEMINFO is refused).
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
    /// NAPI busy polling was set on this thread's wait: io_uring NAPI on its ring, or (method
    /// `epoll`) busy-poll parameters held by its epoll instance.
    #[cfg_attr(feature = "serde", serde(default))]
    pub napi: bool,
    /// `epoll`: `epoll_wait` calls that returned with the socket readable (0 for the other
    /// methods, and when the thread never waited: `spin`).
    #[cfg_attr(feature = "serde", serde(default))]
    pub epoll_wakeups: u64,
    /// `auto` only: why this socket's thread left io_uring at run time for `recvmmsg` (the
    /// kernel refused the first multishot request); `None` when it did not.
    pub fallback: Option<String>,
}

/// Everything a run gives back.
#[derive(Debug)]
#[non_exhaustive]
pub struct RunOutput<H> {
    /// The handlers, in socket order.
    pub handlers: Vec<H>,
    /// Per-thread results, in socket order.
    pub threads: Vec<ThreadResult>,
    /// Wall-clock time of the run.
    pub elapsed: Duration,
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::engine::Receiver;

    #[cfg(feature = "serde")]
    #[test]
    fn bare_setup_round_trips_and_old_json_reads_as_with_addresses() {
        let rx = Receiver::builder("127.0.0.1:0".parse().unwrap())
            .method(Method::Recvmmsg)
            .source_addresses(false)
            .drops_per_interval(true)
            .build()
            .expect("build");
        let s = rx.setup();
        assert!(!s.source_addresses);
        assert!(s.drops_source.starts_with("SO_MEMINFO per interval"), "{}", s.drops_source);
        let mut v = serde_json::to_value(s).unwrap();
        assert_eq!(v["source_addresses"], false);
        let back: SetupInfo = serde_json::from_value(v.clone()).unwrap();
        assert_eq!(&back, s);
        // A report written before the field existed still loads, with addresses (as it ran).
        v.as_object_mut().unwrap().remove("source_addresses");
        let old: SetupInfo = serde_json::from_value(v).unwrap();
        assert!(old.source_addresses);
        let plain = Receiver::builder("127.0.0.1:0".parse().unwrap())
            .method(Method::Recvmmsg)
            .build()
            .expect("build");
        assert!(plain.setup().source_addresses);
        assert!(plain.setup().drops_source.starts_with("SO_RXQ_OVFL"));
    }
}
