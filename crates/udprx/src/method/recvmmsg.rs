//! Batched receive: `recvmmsg(2)` over header arrays allocated once per receiver.
//!
//! By default MSG_WAITFORONE: block for the first datagram, then take what is queued. With
//! `full_batch` the call blocks until the batch is full (or the receive timeout), which sleeps
//! least per datagram under load but delays datagrams at low rates.
//!
//! Lean (`ReceiverBuilder::lean`): the headers carry no name and no control buffer, so the
//! kernel writes neither a source address nor an SO_RXQ_OVFL message per datagram (the socket
//! does not set SO_RXQ_OVFL). Every datagram reports `0.0.0.0:0`; the pull receiver reads the
//! drop counter with SO_MEMINFO once per idle interval and when idle.

use std::io;
use std::os::fd::RawFd;

use crate::clock::{Clock, now_ns};

use crate::batch::{Batch, RecvMeta};
use crate::method::{Counters, LoopConfig};
use crate::sys::cmsg;
use crate::sys::recv::MmsgHeaders;

/// The headers (with their arena) and the metadata of one `recvmmsg` receiver.
pub(crate) struct Recvmmsg {
    size: usize,
    /// Lean: no name and no control area per header.
    lean: bool,
    wait: i32,
    headers: MmsgHeaders,
    metas: Vec<RecvMeta>,
}

impl Recvmmsg {
    pub(crate) fn new(cfg: &LoopConfig) -> Recvmmsg {
        let n = cfg.batch;
        // Control space per datagram is only as large as the options asked for need (PKTINFO
        // and TOS/TCLASS add 64 bytes). SO_RXQ_OVFL is always on for this method.
        let lean = cfg.lean;
        Recvmmsg {
            size: cfg.buffer_size,
            lean,
            wait: if cfg.full_batch { 0 } else { libc::MSG_WAITFORONE },
            headers: MmsgHeaders::new(n, cfg.buffer_size, !lean, cfg.control_len()),
            metas: vec![RecvMeta::EMPTY; n],
        }
    }

    /// Receives up to `batch` datagrams (`flags`: 0 or MSG_DONTWAIT).
    #[inline]
    pub(crate) fn recv(
        &mut self,
        fd: RawFd,
        socket: usize,
        flags: i32,
        counters: &mut Counters,
    ) -> io::Result<Batch<'_>> {
        // MSG_TRUNC applies to every message of the call: `msg_len` is then the datagram's real
        // length even when it was longer than its buffer (and `msg_flags` says it was cut).
        let flags = self.wait | libc::MSG_TRUNC | flags;
        let used = self.headers.recv(fd, flags)?;
        let rx_ns = now_ns(Clock::Monotonic);
        let size = self.size;
        let h = &self.headers;
        for i in 0..used {
            let full = h.msg_len(i);
            let truncated = full > size || h.msg_flags(i) & libc::MSG_TRUNC != 0;
            if self.lean {
                self.metas[i] = RecvMeta {
                    offset: i * size,
                    len: full.min(size),
                    wire_len: full,
                    truncated,
                    ..RecvMeta::EMPTY
                };
                continue;
            }
            let info = cmsg::parse(h.control(i));
            if info.drops.is_some() {
                counters.kernel_drops = info.drops;
            }
            self.metas[i] = RecvMeta {
                offset: i * size,
                len: full.min(size),
                wire_len: full,
                source: cmsg::sockaddr(h.name(i)).unwrap_or(RecvMeta::EMPTY.source),
                segment_size: info.segment_size,
                truncated,
                kernel_rx_ns: info.rx_ns,
                dst_ip: info.dst_ip,
                ifindex: info.ifindex,
                ecn: info.ecn,
            };
        }
        let mut batch = Batch::new(h.arena(), &self.metas[..used], rx_ns, socket);
        batch.kernel_drops = counters.kernel_drops;
        Ok(batch)
    }
}
