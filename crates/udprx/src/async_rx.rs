//! The async receiver (feature `tokio`): a [`PullReceiver`] registered with tokio's reactor.
//!
//! [`Receiver::into_async`](crate::Receiver::into_async) makes one [`AsyncReceiver`] per
//! socket. Each is `Send`, so each goes into its own `tokio::spawn`: with
//! [`sockets(n)`](crate::ReceiverBuilder::sockets) the kernel spreads datagrams over the
//! `SO_REUSEPORT` group and the runtime spreads the tasks over its worker threads.
//!
//! ```no_run
//! # async fn collector() -> Result<(), Box<dyn std::error::Error>> {
//! let rx = udprx::Receiver::builder("127.0.0.1:9000".parse()?).sockets(4).build()?;
//! for mut r in rx.into_async()? {
//!     tokio::spawn(async move {
//!         let mut datagrams = 0u64;
//!         while let Ok(batch) = r.recv_batch().await {
//!             datagrams += batch.datagram_count() as u64;
//!         }
//!         datagrams
//!     });
//! }
//! # Ok(())
//! # }
//! ```

use std::io;
use std::net::SocketAddr;
use std::os::fd::{AsRawFd, RawFd};
use std::time::Duration;

use tokio::io::Interest;
use tokio::io::unix::AsyncFd;

use crate::batch::Batch;
use crate::method::Method;
use crate::pull::{PullReceiver, RecvCounters};
use crate::sys::reply::Replier;

/// The descriptor registered with the reactor (owned by the [`PullReceiver`], which outlives
/// the registration: the `AsyncFd` field is declared, and so dropped, first).
#[derive(Debug)]
struct Registered(RawFd);

impl AsRawFd for Registered {
    fn as_raw_fd(&self) -> RawFd {
        self.0
    }
}

/// Registers `fd` (owned by the `PullReceiver` that the `AsyncFd` lives beside) for reading.
fn register(fd: RawFd) -> io::Result<AsyncFd<Registered>> {
    // SAFETY: `fd` is one of the pull receiver's descriptors (its socket, or its ring's), open
    // for as long as the registration: the `AsyncFd` is dropped before the receiver (field
    // order), and before a fallback closes the ring (`fall_back`). `Registered` always returns
    // this same `fd`.
    unsafe { AsyncFd::register_with_interest(Registered(fd), Interest::READABLE) }
        .map_err(|e| e.into_parts().1)
}

/// An async receiver: [`recv_batch`](Self::recv_batch)`.await` waits for readiness on tokio's
/// reactor and returns the same zero-copy [`Batch`] as [`PullReceiver::recv_batch`].
///
/// - **Send**: one per task, for every method; its io_uring ring (if any) is set up without
///   DEFER_TASKRUN so that any worker thread may drive it.
/// - **Cancel-safe**: a datagram is taken from the kernel only inside the synchronous receive
///   call that also returns it, never across an `.await`; a `recv_batch` future dropped before
///   completion (a `select!` that took another branch, a timeout) has taken nothing, and the
///   next call receives what was queued.
/// - **Readiness**: the receiver's descriptor ([`PullReceiver`]'s `as_fd`) is registered
///   once; it is fixed for the receiver's life except after an `auto` run-time fallback from
///   io_uring to `recvmmsg`, which this receiver notices and re-registers itself.
///
/// # Receive coalescing (opt-in)
///
/// At a service's rate (tens to hundreds of thousands of datagrams per second, arriving a few
/// at a time) each readiness wake-up finds one or a few datagrams, and the wake-up (epoll,
/// the task's poll, a receive call that finds the queue empty) costs more than the receive:
/// every receiver pays it per datagram, whatever its batch size. With
/// [`set_coalesce(Some(window))`](Self::set_coalesce) the receiver, woken on an empty
/// queue, waits `window` before it reads, so that one wake-up reads what arrived in the
/// window: fewer wake-ups per datagram for up to `window` of added latency, the trade NIC
/// interrupt coalescing makes. A flood is not delayed (the window is only waited when the
/// previous call found the queue empty). During the window the receiver is off the reactor
/// (Linux signals readiness for every datagram queued, and each signal would wake the runtime's
/// thread), at the price of two `epoll_ctl` calls per window. The wait is a tokio timer, so the runtime needs its
/// time driver (`enable_time`/`enable_all`; tokio panics otherwise) and the window is rounded
/// up to tokio's 1 ms timer resolution. Datagrams that arrive during the window wait in the
/// socket's receive buffer, so size `rcvbuf` for `rate × window`. Off by default.
#[derive(Debug)]
pub struct AsyncReceiver {
    /// Declared first: deregistered before the receiver's descriptors close. `None` while a
    /// coalescing window is waited (off the reactor: see `recv_batch`).
    fd: Option<AsyncFd<Registered>>,
    pull: PullReceiver,
    /// The coalescing window, if any.
    coalesce: Option<Duration>,
    /// The last receive call found the queue empty (or none was made yet): the next
    /// readiness starts a coalescing window.
    drained: bool,
    /// `recvmmsg` with a batch above 1: a call that returned fewer datagrams than this stopped
    /// because the socket's queue was empty (see `recv_batch`); 0 for the other methods.
    short_batch: usize,
}

/// The batch size below which a `recvmmsg` batch proves the queue was emptied, or 0.
fn short_batch(pull: &PullReceiver) -> usize {
    match pull.method() {
        Method::Recvmmsg | Method::Epoll if pull.batch_size() > 1 => pull.batch_size(),
        _ => 0,
    }
}

impl AsyncReceiver {
    /// Registers `pull` (switched to non-blocking) with the current tokio runtime's reactor.
    /// Must be called from within a runtime. Prefer
    /// [`Receiver::into_async`](crate::Receiver::into_async), which also sets io_uring rings
    /// up for use from any thread: a `pull` whose ring has DEFER_TASKRUN works only while the
    /// task stays on the thread that created it.
    pub fn new(mut pull: PullReceiver) -> io::Result<AsyncReceiver> {
        pull.set_nonblocking(true);
        let fd = register(pull.as_raw_fd())?;
        let short_batch = short_batch(&pull);
        Ok(AsyncReceiver { fd: Some(fd), pull, coalesce: None, drained: true, short_batch })
    }

    /// Receive coalescing (see the type's documentation): woken on an empty queue, wait
    /// `window` before reading, so one wake-up reads what arrived meanwhile. `None` (the
    /// default) or a zero window turns it off. Needs the runtime's time driver.
    pub fn set_coalesce(&mut self, window: Option<Duration>) {
        self.coalesce = window.filter(|w| !w.is_zero());
    }

    /// The coalescing window, `None` when off.
    pub fn coalesce(&self) -> Option<Duration> {
        self.coalesce
    }

    /// Waits until datagrams are queued and receives them: one receive call of the method,
    /// zero-copy (the batch borrows the receiver until dropped). Never empty. Cancel-safe.
    ///
    /// Errors are the kernel's answer to the receive call (see
    /// [`PullReceiver::recv_batch`]); `WouldBlock` and `Interrupted` are handled here.
    pub async fn recv_batch(&mut self) -> io::Result<Batch<'_>> {
        loop {
            if self.fd.is_none() {
                self.fd = Some(register(self.pull.as_raw_fd())?);
            }
            let Some(fd) = &self.fd else { unreachable!("registered above") };
            let mut guard = fd.readable().await?;
            if self.drained
                && let Some(window) = self.coalesce
            {
                // The window is waited off the reactor: Linux signals readiness for every
                // datagram queued, even onto a non-empty queue, and each signal would wake the
                // runtime's thread during the window for nothing. Deregistering and registering
                // again (two epoll_ctl calls per window) costs less than those wake-ups; the
                // registration reports the queued datagrams at once. A future dropped during
                // the window has taken nothing (the next call registers and waits again).
                drop(guard);
                self.fd = None;
                tokio::time::sleep(window).await;
                self.drained = false;
                continue;
            }
            let pull: *mut PullReceiver = &mut self.pull;
            // SAFETY: `pull` comes from `&mut self.pull`, borrowed for the lifetime of `&mut
            // self`, and is dereferenced once per iteration; the batch it may return is
            // returned at once (it borrows `self.pull` for that lifetime, as the signature
            // says), and on every other path nothing derived from it is alive when the loop
            // uses `self.pull` again. This is the borrow the compiler accepts under Polonius
            // (NLL "problem case #3": a conditional return of a borrow inside a loop). The
            // pointer is never held across an `.await`.
            match unsafe { &mut *pull }.recv_batch() {
                Ok(batch) => {
                    // A non-blocking recvmmsg returns fewer than its batch only when a receive
                    // found the socket's queue empty (or failed, which the next call reports).
                    // Any datagram queued after that wakes the reactor again (edge-triggered:
                    // the kernel signals every enqueue onto an empty queue), so readiness can
                    // be cleared now instead of after one more receive call that would only
                    // return EAGAIN: one system call less per wake-up.
                    if batch.len() < self.short_batch {
                        guard.clear_ready();
                        self.drained = true;
                    }
                    return Ok(batch);
                }
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => {
                    self.drained = true;
                    guard.clear_ready();
                    drop(guard);
                    if self.pull.fallback_pending() {
                        self.fall_back()?;
                    }
                }
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) => return Err(e),
            }
        }
    }

    /// `auto` is leaving io_uring for `recvmmsg`: readiness moves to the socket. Every
    /// descriptor stays open while registered: the socket is registered, then the ring's
    /// registration dropped, and only then the ring closed (by the fallback).
    #[cold]
    fn fall_back(&mut self) -> io::Result<()> {
        let socket = self.pull.socket_fd();
        if self.fd.as_ref().is_some_and(|f| f.get_ref().0 != socket) {
            let fresh = register(socket)?;
            drop(self.fd.replace(fresh));
        }
        self.pull.fall_back_to_recvmmsg()?;
        self.short_batch = short_batch(&self.pull);
        Ok(())
    }

    /// The pull receiver inside (for its settings and counters).
    pub fn get_ref(&self) -> &PullReceiver {
        &self.pull
    }

    /// The method this receiver runs (never `Auto`).
    pub fn method(&self) -> Method {
        self.pull.method()
    }

    /// The socket's index in its receiver.
    pub fn index(&self) -> usize {
        self.pull.index()
    }

    /// The bound address.
    pub fn local_addr(&self) -> SocketAddr {
        self.pull.local_addr()
    }

    /// What the kernel reported so far (see [`PullReceiver::counters`]).
    pub fn counters(&self) -> RecvCounters {
        self.pull.counters()
    }

    /// Why this receiver left io_uring for `recvmmsg` at run time (`auto` only), or `None`.
    pub fn fallback(&self) -> Option<&str> {
        self.pull.fallback()
    }

    /// A [`Replier`] sending through this receiver's socket.
    pub fn replier(&self) -> io::Result<Replier> {
        self.pull.replier()
    }
}
