//! Batched receive: `recvmmsg(2)` over header arrays allocated once per receiver.
//!
//! By default MSG_WAITFORONE: block for the first datagram, then take what is queued. With
//! `full_batch` the call blocks until the batch is full (or the receive timeout), which sleeps
//! least per datagram under load but delays datagrams at low rates.
//!
//! Without `source_addresses` the headers carry no name, so the kernel copies no source address
//! (every datagram reports `0.0.0.0:0`); without any control message (`drops_per_interval` and
//! no GRO, timestamps, PKTINFO or ECN) they carry no control buffer either, which is exactly
//! what a bare C `recvmmsg` loop asks of the kernel.

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
    /// The headers carry a name area (source addresses).
    names: bool,
    /// The headers carry a control area.
    cmsg: bool,
    wait: i32,
    headers: MmsgHeaders,
    metas: Vec<RecvMeta>,
}

impl Recvmmsg {
    pub(crate) fn new(cfg: &LoopConfig) -> Recvmmsg {
        let n = cfg.batch;
        // Control space per datagram is only as large as the options asked for need (PKTINFO
        // and TOS/TCLASS add 64 bytes), and none without control messages.
        let control_len = if cfg.cmsg { cfg.control_len() } else { 0 };
        Recvmmsg {
            size: cfg.buffer_size,
            names: cfg.names,
            cmsg: cfg.cmsg,
            wait: if cfg.full_batch { 0 } else { libc::MSG_WAITFORONE },
            headers: MmsgHeaders::new(n, cfg.buffer_size, cfg.names, control_len),
            // Filled per call only with control messages; without, the batch reads the
            // headers in place.
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
        let (used, rx_ns) = self.fill(fd, flags, counters)?;
        Ok(self.batch(used, rx_ns, socket, counters))
    }

    /// Most datagrams one call takes.
    #[inline]
    pub(crate) fn capacity(&self) -> usize {
        self.metas.len()
    }

    /// One `recvmmsg` call: the datagrams it took and when (with control messages, their
    /// records filled in; without, the batch reads the headers in place); the batch
    /// is then [`batch`](Self::batch) (split so a caller can decide on the count first).
    #[inline]
    pub(crate) fn fill(
        &mut self,
        fd: RawFd,
        flags: i32,
        counters: &mut Counters,
    ) -> io::Result<(usize, u64)> {
        // MSG_TRUNC applies to every message of the call: `msg_len` is then the datagram's real
        // length even when it was longer than its buffer (and `msg_flags` says it was cut).
        let flags = self.wait | libc::MSG_TRUNC | flags;
        let used = self.headers.recv(fd, flags)?;
        let rx_ns = now_ns(Clock::Monotonic);
        if !self.cmsg {
            // The bare loop's headers: the batch reads them in place (`batch`).
            return Ok((used, rx_ns));
        }
        let size = self.size;
        let h = &self.headers;
        for i in 0..used {
            let full = h.msg_len(i);
            let truncated = full > size || h.msg_flags(i) & libc::MSG_TRUNC != 0;
            let source = if self.names {
                cmsg::sockaddr(h.name(i)).unwrap_or(RecvMeta::EMPTY.source)
            } else {
                RecvMeta::EMPTY.source
            };
            let info = cmsg::parse(h.control(i));
            if info.drops.is_some() {
                counters.kernel_drops = info.drops;
            }
            self.metas[i] = RecvMeta {
                offset: i * size,
                len: full.min(size),
                wire_len: full,
                source,
                segment_size: info.segment_size,
                truncated,
                kernel_rx_ns: info.rx_ns,
                dst_ip: info.dst_ip,
                ifindex: info.ifindex,
                ecn: info.ecn,
            };
        }
        Ok((used, rx_ns))
    }

    /// The batch of the last [`fill`](Self::fill) (`used` datagrams received at `rx_ns`).
    #[inline]
    pub(crate) fn batch(
        &self,
        used: usize,
        rx_ns: u64,
        socket: usize,
        counters: &Counters,
    ) -> Batch<'_> {
        let mut batch = if self.cmsg {
            Batch::new(self.headers.arena(), &self.metas[..used], rx_ns, socket)
        } else {
            Batch::from_headers(self.headers.view(used), rx_ns, socket)
        };
        batch.kernel_drops = counters.kernel_drops;
        batch
    }
}
