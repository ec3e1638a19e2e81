//! The event-loop shape (DNS and QUIC servers): one epoll instance per socket, level-triggered
//! EPOLLIN; `epoll_wait` (timeout: the idle interval), then `recvmmsg(MSG_DONTWAIT)` batches
//! until a short batch or EAGAIN, then back to `epoll_wait`.
//!
//! The batches are [`Recvmmsg`]'s, so names, control messages and drop counting are exactly
//! `recvmmsg`'s; what differs is where the thread sleeps: in `epoll_wait`, not in the receive
//! call. That is what makes epoll busy polling (`EPIOCSPARAMS`, Linux 6.9) and IRQ suspension
//! (Linux 6.13, which works only with an epoll prefer-busy-poll loop) apply.
//!
//! A full batch means more may be queued, so the next call receives again without waiting; a
//! short batch means the queue was (nearly) empty, so the next call waits. In non-blocking
//! mode (a [`PullReceiver`](crate::PullReceiver) in an application's own event loop, or
//! `spin`) no call waits: each is one `recvmmsg(MSG_DONTWAIT)`.

use std::io;
use std::os::fd::RawFd;

use crate::batch::Batch;
use crate::method::recvmmsg::Recvmmsg;
use crate::method::{Counters, LoopConfig};
use crate::sys::epoll::{self, Epoll, EpollParams};

/// One socket's epoll instance and its `recvmmsg` headers.
pub(crate) struct EpollRx {
    ep: Epoll,
    rx: Recvmmsg,
    /// The last batch was full: receive again before waiting.
    draining: bool,
    /// `epoll_wait` timeout (ms): the idle interval, rounded up.
    timeout_ms: i32,
    /// The call the last error came from.
    call: &'static str,
}

impl EpollRx {
    /// An epoll instance watching `fd`, with `cfg.epoll_params` set on it when asked for (a
    /// refusal is not an error: the instance waits without busy polling, `counters.napi` says
    /// whether it busy-polls).
    pub(crate) fn new(fd: RawFd, cfg: &LoopConfig, counters: &mut Counters) -> io::Result<EpollRx> {
        let ep = Epoll::new(fd)?;
        if let Some(want) = &cfg.epoll_params {
            counters.napi =
                epoll::apply_params(&ep, want).is_ok_and(|held| held.busy_poll_usecs > 0);
        }
        let ms = cfg.idle_ns.div_ceil(1_000_000).clamp(1, i32::MAX as u64) as i32;
        Ok(EpollRx {
            ep,
            rx: Recvmmsg::new(cfg),
            draining: false,
            timeout_ms: ms,
            call: "recvmmsg",
        })
    }

    /// One batch: waits (unless `nonblocking` or draining) then takes up to `batch` datagrams.
    /// `WouldBlock` when the wait timed out or nothing was queued. A full batch that emptied
    /// the queue exactly is followed by EAGAIN: in blocking mode that call goes on to wait (it
    /// is not an idle wake-up).
    #[inline]
    pub(crate) fn recv(
        &mut self,
        fd: RawFd,
        socket: usize,
        nonblocking: bool,
        counters: &mut Counters,
    ) -> io::Result<Batch<'_>> {
        let drained = if self.draining || nonblocking {
            self.call = "recvmmsg";
            match self.rx.fill(fd, libc::MSG_DONTWAIT, counters) {
                Ok(got) => Some(got),
                Err(e) if !nonblocking && e.kind() == io::ErrorKind::WouldBlock => None,
                Err(e) => {
                    self.draining = false;
                    return Err(e);
                }
            }
        } else {
            None
        };
        let (used, rx_ns) = match drained {
            Some(got) => got,
            None => {
                self.draining = false;
                self.call = "epoll_wait";
                if self.ep.wait(self.timeout_ms)? == 0 {
                    return Err(io::ErrorKind::WouldBlock.into());
                }
                counters.epoll_wakeups += 1;
                self.call = "recvmmsg";
                // EAGAIN here (woken, but another reader took the datagrams) is `WouldBlock`.
                self.rx.fill(fd, libc::MSG_DONTWAIT, counters)?
            }
        };
        // A full batch: more may be queued, take it before waiting again.
        self.draining = used == self.rx.capacity();
        Ok(self.rx.batch(used, rx_ns, socket, counters))
    }

    /// The call the last error came from (`epoll_wait` or `recvmmsg`).
    pub(crate) fn call(&self) -> &'static str {
        self.call
    }
}

/// The epoll busy-poll parameters for a busy-poll time of `busy_poll_us` µs.
pub(crate) fn params(busy_poll_us: u32, budget: Option<u16>, prefer: bool) -> EpollParams {
    EpollParams {
        // The kernel refuses more than S32_MAX.
        busy_poll_usecs: busy_poll_us.min(i32::MAX as u32),
        busy_poll_budget: budget.unwrap_or(0),
        prefer_busy_poll: prefer as u8,
        pad: 0,
    }
}

/// Whether this kernel takes `want` on an epoll instance: `Ok` with what it holds (read back
/// with EPIOCGPARAMS), or `Err` with the refusal and what happens instead.
pub(crate) fn probe(want: &EpollParams) -> Result<String, String> {
    let ep = Epoll::empty().map_err(|e| format!("epoll_create1 failed ({e})"))?;
    match epoll::apply_params(&ep, want) {
        Ok(held) => Ok(epoll::describe(&held)),
        Err(why) => Err(format!(
            "epoll busy polling off: {why}; the socket keeps SO_BUSY_POLL but epoll_wait does \
             not busy-poll"
        )),
    }
}
