//! The pull API: a receiver you own and call from your own loop or event loop.
//!
//! [`Receiver::into_pull`](crate::Receiver::into_pull) turns a built receiver into one
//! [`PullReceiver`] per socket. Each [`PullReceiver::recv_batch`] makes one receive call of the
//! method (`recvfrom`/`recvmsg`, `recvmmsg`, or one io_uring wait and completion drain) and
//! returns the same zero-copy [`Batch`] a [`Handler`](crate::Handler) gets. The threaded engine
//! ([`Receiver::run`](crate::Receiver::run)) is this same call in a loop, one pinned thread per
//! socket.
//!
//! ```
//! use std::net::UdpSocket;
//! use udprx::{Method, Receiver};
//!
//! let rx = Receiver::builder("127.0.0.1:0".parse()?).method(Method::Recvmmsg).build()?;
//! let addr = rx.local_addr();
//! let mut pull = rx.into_pull()?.remove(0);
//! assert!(pull.is_nonblocking()); // the default: an event loop is never stalled
//! let err = pull.recv_batch().unwrap_err();
//! assert_eq!(err.kind(), std::io::ErrorKind::WouldBlock);
//! UdpSocket::bind("127.0.0.1:0")?.send_to(b"hello", addr)?;
//! pull.set_nonblocking(false); // opt in: waits up to the idle interval (100 ms by default)
//! let batch = pull.recv_batch()?;
//! assert_eq!(batch.get(0).unwrap().payload, b"hello");
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```

use std::io;
use std::net::SocketAddr;
use std::os::fd::{AsFd, AsRawFd, BorrowedFd, OwnedFd, RawFd};
use std::sync::Arc;

use crate::clock::{Clock, now_ns};
use socket2::Socket;

use crate::batch::Batch;
use crate::error::Error;
pub use crate::method::RecvCounters;
use crate::method::epoll::EpollRx;
use crate::method::recvfrom::Recvfrom;
use crate::method::recvmmsg::Recvmmsg;
use crate::method::uring::{self, Failure, Op, Uring};
use crate::method::{LoopConfig, LoopCtx, Method, is_wouldblock};
use crate::sys::reply::{DEFAULT_REPLY_SLOT, Replier};

/// The method's state.
enum Inner {
    Recvfrom(Recvfrom),
    Recvmmsg(Recvmmsg),
    Uring(Box<Uring>),
    Epoll(EpollRx),
}

/// A receiver you drive: one socket, one method, [`recv_batch`](Self::recv_batch) per call.
///
/// Made by [`Receiver::into_pull`](crate::Receiver::into_pull), with the builder's method,
/// batch, buffer, ring and option settings.
///
/// **Non-blocking by default**: [`recv_batch`](Self::recv_batch) never waits and returns
/// `WouldBlock` at once when nothing is queued; wait for readiness of [`as_fd`](AsFd::as_fd)
/// (epoll, mio, tokio's `AsyncFd`, or `AsyncReceiver` with the `tokio` feature) and
/// call again until `WouldBlock`. This is the safe default where an event loop drives the
/// receiver: a blocking call there would stall every other task on the thread for the idle
/// interval. A dedicated thread that should sleep in the kernel opts in with
/// [`set_nonblocking(false)`](Self::set_nonblocking): a call then waits at most the builder's
/// [`idle_interval`](crate::ReceiverBuilder::idle_interval) and then returns `WouldBlock`
/// (the threaded engine's loop is this).
///
/// A `PullReceiver` is `Send` for every method, so it can go into `std::thread::spawn` or
/// `tokio::spawn`, one per socket. One exception at run time: an io_uring ring set up with
/// SINGLE_ISSUER + DEFER_TASKRUN (the `uring` default when the kernel has it) accepts calls
/// from the thread that created it only; on another thread `recv_batch` fails with an error
/// saying so. Make such a receiver on the thread that uses it, or build with
/// [`uring_defer_taskrun(false)`](crate::ReceiverBuilder::uring_defer_taskrun) for a receiver
/// that moves (the async receiver does). The socket closes when it is dropped.
///
/// ```no_run
/// # fn main() -> Result<(), Box<dyn std::error::Error>> {
/// let rx = udprx::Receiver::builder("127.0.0.1:9000".parse()?).build()?;
/// let mut pull = rx.into_pull()?.remove(0);
/// pull.set_nonblocking(false); // a thread of its own: sleep in the kernel when idle
/// loop {
///     match pull.recv_batch() {
///         Ok(batch) => {
///             for d in batch.iter() {
///                 println!("{} bytes from {}", d.payload.len(), d.source);
///             }
///         }
///         Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => {} // idle: do other work
///         Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
///         Err(e) => return Err(e.into()),
///     }
/// }
/// # }
/// ```
pub struct PullReceiver {
    /// Dropped first: the ring's requests refer to the socket.
    inner: Inner,
    socket: Arc<OwnedFd>,
    fd: RawFd,
    index: usize,
    method: Method,
    nonblocking: bool,
    batch: usize,
    counters: RecvCounters,
    failure: Failure,
    local_addr: SocketAddr,
    /// SO_MEMINFO drops (`cfg.meminfo_drops`): when SO_MEMINFO was last read (0: never); read at most once per
    /// `cfg.idle_ns` and when a wait ends empty.
    last_drops_ns: u64,
    /// The settings it was made with: how drops are read, the idle interval, and (`auto`) what a run-time
    /// fallback to `recvmmsg` is built from.
    cfg: LoopConfig,
    /// Why this receiver left io_uring for `recvmmsg` at run time.
    fallback: Option<String>,
}

impl std::fmt::Debug for PullReceiver {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PullReceiver")
            .field("fd", &self.fd)
            .field("index", &self.index)
            .field("method", &self.method)
            .field("nonblocking", &self.nonblocking)
            .field("local_addr", &self.local_addr)
            .field("counters", &self.counters)
            .finish()
    }
}

impl PullReceiver {
    /// Sets up `method` (resolved, a socket method) on `socket`. For io_uring the ring is made
    /// here, on the calling thread.
    pub(crate) fn new(
        socket: Socket,
        index: usize,
        method: Method,
        cfg: &LoopConfig,
    ) -> Result<PullReceiver, Error> {
        let local_addr = crate::sys::socket::local_addr(&socket)?;
        let socket: Arc<OwnedFd> = Arc::new(socket.into());
        let fd = socket.as_raw_fd();
        let mut counters = RecvCounters::default();
        // SO_RXQ_OVFL is on wherever control messages are read (build.rs): the kernel attaches
        // the counter to a datagram only once it is non-zero, so until one carries it, it is
        // read and zero.
        let reads_ovfl = !cfg.meminfo_drops
            && match method {
                Method::Recvmmsg | Method::Uring | Method::Epoll | Method::Auto => true,
                Method::Recvfrom => cfg.gro || cfg.timestamps || cfg.pktinfo || cfg.ecn,
                _ => false,
            };
        if reads_ovfl {
            counters.kernel_drops = Some(0);
        }
        let inner = match method {
            Method::Recvfrom => Inner::Recvfrom(Recvfrom::new(cfg)),
            Method::Recvmmsg => Inner::Recvmmsg(Recvmmsg::new(cfg)),
            Method::Epoll => {
                Inner::Epoll(EpollRx::new(fd, cfg, &mut counters).map_err(|source| {
                    Error::Recv { socket: index, call: "epoll_create", source }
                })?)
            }
            Method::Uring | Method::Auto => {
                Inner::Uring(Box::new(Uring::new(fd, cfg, Op::RecvMsg, &mut counters)?))
            }
            Method::UringRecv => {
                Inner::Uring(Box::new(Uring::new(fd, cfg, Op::Recv, &mut counters)?))
            }
            Method::Xdp | Method::XdpDrop => {
                return Err(Error::Config(format!(
                    "method {method} has no pull receiver: its datagrams arrive in AF_XDP \
                     rings, not on a UDP socket; use Receiver::run"
                )));
            }
        };
        Ok(PullReceiver {
            inner,
            socket,
            fd,
            index,
            method: if method == Method::Auto { Method::Uring } else { method },
            nonblocking: cfg.spin,
            batch: cfg.batch,
            counters,
            failure: Failure { call: "recv", unsupported: false },
            local_addr,
            last_drops_ns: 0,
            cfg: cfg.clone(),
            fallback: None,
        })
    }

    /// Receives the next batch: one receive call of the method, zero-copy.
    ///
    /// The batch borrows the receiver's buffers until it is dropped (for io_uring, its buffers
    /// go back to the kernel at the next call). Never empty. Errors: `WouldBlock` when nothing
    /// arrived (at once in non-blocking mode, after the idle interval otherwise),
    /// `Interrupted` when a signal cut the wait; anything else is the kernel's answer to the
    /// receive call.
    ///
    /// Made from a builder with [`Method::Auto`], a receiver whose first io_uring multishot
    /// request the kernel refuses (EINVAL: a kernel without multishot receive) moves to
    /// `recvmmsg` on the same socket: that call returns `WouldBlock`, the next ones receive with
    /// `recvmmsg`, and [`fallback`](Self::fallback) says why.
    #[inline]
    pub fn recv_batch(&mut self) -> io::Result<Batch<'_>> {
        if self.failure.unsupported && self.cfg.fallback_on_refusal {
            self.fall_back_to_recvmmsg()?;
        }
        let flags = if self.nonblocking { libc::MSG_DONTWAIT } else { 0 };
        let r = match &mut self.inner {
            Inner::Recvfrom(r) => r.recv(self.fd, self.index, flags, &mut self.counters),
            Inner::Recvmmsg(r) => r.recv(self.fd, self.index, flags, &mut self.counters),
            // Non-blocking: no epoll_wait, one recvmmsg(MSG_DONTWAIT).
            Inner::Epoll(e) => e.recv(self.fd, self.index, self.nonblocking, &mut self.counters),
            Inner::Uring(u) => {
                match u.recv(self.index, self.nonblocking, &mut self.counters, &mut self.failure) {
                    // Nothing was received; the next call goes on with recvmmsg.
                    Err(_) if self.failure.unsupported && self.cfg.fallback_on_refusal => {
                        Err(io::ErrorKind::WouldBlock.into())
                    }
                    r => r,
                }
            }
        };
        if !self.cfg.meminfo_drops {
            return r;
        }
        // Lean or `drops_per_interval`: no datagram carries the drop counter, so read it (one
        // system call) at most once per idle interval, and when a wait ended empty.
        let now = match &r {
            Ok(b) => b.rx_ns,
            Err(_) => now_ns(Clock::Monotonic),
        };
        if now.saturating_sub(self.last_drops_ns) < self.cfg.idle_ns {
            return r;
        }
        self.last_drops_ns = now.max(1);
        if let Some(d) = crate::sys::socket::meminfo_drops(self.fd) {
            self.counters.kernel_drops = Some(d);
        }
        r.map(|mut b| {
            b.kernel_drops = self.counters.kernel_drops;
            b
        })
    }

    /// True when the next [`recv_batch`](Self::recv_batch) will move to `recvmmsg` (an `auto`
    /// receiver whose multishot request was refused; the ring is still open).
    #[cfg(feature = "tokio")]
    pub(crate) fn fallback_pending(&self) -> bool {
        self.failure.unsupported && self.cfg.fallback_on_refusal
    }

    /// The UDP socket's descriptor (open for the receiver's life).
    #[cfg(feature = "tokio")]
    pub(crate) fn socket_fd(&self) -> RawFd {
        self.fd
    }

    /// Why this receiver left io_uring for `recvmmsg` at run time (`auto` only), or `None`.
    pub fn fallback(&self) -> Option<&str> {
        self.fallback.as_deref()
    }

    /// `auto` after a multishot refusal: the ring goes (its request never took a datagram),
    /// the socket becomes what `recvmmsg` expects (blocking with the idle interval as receive
    /// timeout, unless non-blocking) and `recvmmsg` takes over.
    #[cold]
    pub(crate) fn fall_back_to_recvmmsg(&mut self) -> io::Result<()> {
        let call = self.failure.call;
        self.failure.unsupported = false;
        let sock = socket2::SockRef::from(&*self.socket);
        sock.set_nonblocking(self.cfg.spin)?;
        if !self.cfg.spin {
            sock.set_read_timeout(Some(std::time::Duration::from_nanos(self.cfg.idle_ns.max(1))))?;
        }
        // SO_RXQ_OVFL: recvmmsg reads drops from the control messages, as it would have if
        // chosen at build time (io_uring recvmsg set it too; `uring-recv` is never `auto`).
        self.inner = Inner::Recvmmsg(Recvmmsg::new(&self.cfg));
        self.method = Method::Recvmmsg;
        self.fallback = Some(format!(
            "{call} multishot refused by the kernel at run time (EINVAL: no \
             IORING_RECV_MULTISHOT); this socket went on with recvmmsg"
        ));
        Ok(())
    }

    /// In non-blocking mode [`recv_batch`](Self::recv_batch) never waits (`MSG_DONTWAIT`, or
    /// an io_uring enter without waiting). On by default for a receiver made by
    /// [`into_pull`](crate::Receiver::into_pull) (an event loop is never stalled by a
    /// forgotten setting); `set_nonblocking(false)` opts in to waiting in the kernel, up to the
    /// idle interval per call, for a thread that does nothing else.
    pub fn set_nonblocking(&mut self, on: bool) {
        self.nonblocking = on;
    }

    /// True in non-blocking mode.
    pub fn is_nonblocking(&self) -> bool {
        self.nonblocking
    }

    /// The method this receiver runs (never `Auto`).
    pub fn method(&self) -> Method {
        self.method
    }

    /// Most datagrams one [`recv_batch`](Self::recv_batch) returns (the builder's batch for
    /// `recvmmsg`).
    #[cfg(feature = "tokio")]
    pub(crate) fn batch_size(&self) -> usize {
        self.batch
    }

    /// The socket's index in its receiver (the `socket` of every batch).
    pub fn index(&self) -> usize {
        self.index
    }

    /// The bound address.
    pub fn local_addr(&self) -> SocketAddr {
        self.local_addr
    }

    /// What the kernel reported so far (drops, io_uring ring exhaustion and re-arms).
    pub fn counters(&self) -> RecvCounters {
        self.counters
    }

    /// A [`Replier`] sending through this receiver's socket, with room for one batch of
    /// queued replies.
    pub fn replier(&self) -> io::Result<Replier> {
        Replier::from_shared(self.socket.clone(), self.batch.clamp(1, 1024), DEFAULT_REPLY_SLOT)
    }

    /// The UDP socket (whatever the method). For readiness use [`as_fd`](AsFd::as_fd), which
    /// is the io_uring ring's descriptor in some modes.
    pub fn socket(&self) -> BorrowedFd<'_> {
        self.socket.as_fd()
    }

    /// The error the threaded engine reports for a failed [`recv_batch`](Self::recv_batch).
    pub(crate) fn engine_error(&self, source: io::Error) -> Error {
        match &self.inner {
            Inner::Uring(_) if self.failure.unsupported => Error::UringUnavailable(format!(
                "multishot {} refused (EINVAL): kernel without IORING_RECV_MULTISHOT",
                if self.method == Method::UringRecv { "recv" } else { "recvmsg" }
            )),
            Inner::Uring(_) => Error::Recv { socket: self.index, call: self.failure.call, source },
            Inner::Recvfrom(r) => Error::Recv { socket: self.index, call: r.call(), source },
            Inner::Recvmmsg(_) => Error::Recv { socket: self.index, call: "recvmmsg", source },
            Inner::Epoll(e) => Error::Recv { socket: self.index, call: e.call(), source },
        }
    }
}

/// The descriptor to wait on for readiness (readable = [`PullReceiver::recv_batch`] has
/// something): the UDP socket for `recvfrom`, `recvmmsg` and `epoll` (whose own epoll instance
/// is used only when the receiver blocks). For io_uring it is the socket too
/// when the ring runs with DEFER_TASKRUN (the default): completions are only produced when this
/// thread enters the ring, and until then the datagrams wait, readable, in the socket. When
/// the kernel refused DEFER_TASKRUN (or `uring_defer_taskrun(false)`), completions may be
/// produced while the thread sleeps elsewhere, so it is the ring's descriptor, readable when
/// completions are waiting.
///
/// Readiness contract: the first io_uring multishot request is submitted when the receiver is
/// created, so an application may wait for readiness before its first
/// [`recv_batch`](PullReceiver::recv_batch) in every mode (tests/readiness.rs drives every
/// method that way). The descriptor is fixed for the receiver's life, with one exception: an
/// [`Method::Auto`] receiver whose multishot request the kernel refuses at run time moves to
/// `recvmmsg` (the call that moves returns `WouldBlock` and [`PullReceiver::fallback`] becomes
/// `Some`); without DEFER_TASKRUN its descriptor then changes from the ring's to the socket's,
/// so re-register it when `fallback()` turns `Some` (the async receiver does this itself).
impl AsFd for PullReceiver {
    fn as_fd(&self) -> BorrowedFd<'_> {
        match &self.inner {
            Inner::Uring(u) if u.mode() != uring::RingMode::Deferred => u.ring_fd(),
            _ => self.socket.as_fd(),
        }
    }
}

impl AsRawFd for PullReceiver {
    fn as_raw_fd(&self) -> RawFd {
        self.as_fd().as_raw_fd()
    }
}

/// The threaded engine's loop for the socket methods: pull a batch, hand it to the handler;
/// call `on_idle` when a wait ends without data; until stop, deadline or an error.
pub(crate) fn drive<H: crate::batch::Handler>(
    ctx: &mut LoopCtx<'_, H>,
    rx: &mut PullReceiver,
) -> Result<(), crate::error::Error> {
    let err = loop {
        match rx.recv_batch() {
            Ok(batch) => {
                if !ctx.deliver(&batch) {
                    break None;
                }
            }
            Err(e) if is_wouldblock(&e) => {
                if !ctx.idle() {
                    break None;
                }
            }
            Err(e) => break Some(e),
        }
    };
    let c = rx.counters();
    ctx.stats.kernel_drops = c.kernel_drops;
    ctx.stats.enobufs = c.enobufs;
    ctx.stats.rearms = c.rearms;
    ctx.stats.napi = c.napi;
    ctx.stats.epoll_wakeups = c.epoll_wakeups;
    match err {
        None => Ok(()),
        Some(e) => Err(rx.engine_error(e)),
    }
}
