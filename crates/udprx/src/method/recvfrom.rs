//! The baseline: one datagram per system call.
//!
//! Without control messages (no `gro`, `timestamps`, `pktinfo` or `ecn`) this is plain
//! `recvfrom(2)`, exactly what a classic server does; the socket's drops are then read from
//! `/proc/net/udp` at the end of the run. When the kernel must hand over control messages it
//! becomes `recvmsg(2)` with one datagram per call (same cost class), and SO_RXQ_OVFL is read
//! per datagram.
//!
//! Without `source_addresses`: a NULL address, so the kernel copies no source address either;
//! every datagram reports `0.0.0.0:0`.
//!
//! Every datagram is stamped (one call each), so the stamp is a [`StampClock`]: the CPU's
//! time-stamp counter scaled to `CLOCK_MONOTONIC` where the kernel keeps time with it, which
//! costs a third of a `clock_gettime` right after the receive call.

use std::io;
use std::os::fd::RawFd;

use crate::clock::StampClock;

use crate::batch::{Batch, RecvMeta};
use crate::method::{Counters, LoopConfig};
use crate::sys::cmsg;
use crate::sys::recv::MsgBuffers;

/// One buffer, one name and one control area, allocated once.
pub(crate) struct Recvfrom {
    bufs: MsgBuffers,
    metas: [RecvMeta; 1],
    use_msg: bool,
    /// Ask for the source address (`source_addresses`).
    names: bool,
    /// One stamp per datagram: the time-stamp counter where the kernel keeps time with it.
    clock: StampClock,
}

impl Recvfrom {
    pub(crate) fn new(cfg: &LoopConfig) -> Recvfrom {
        Recvfrom {
            bufs: MsgBuffers::new(cfg.buffer_size, cfg.control_len()),
            metas: [RecvMeta::EMPTY],
            use_msg: cfg.cmsg,
            names: cfg.names,
            clock: StampClock::new(),
        }
    }

    /// The system call this method makes.
    pub(crate) fn call(&self) -> &'static str {
        if self.use_msg { "recvmsg" } else { "recvfrom" }
    }

    /// Receives one datagram (`flags`: 0 or MSG_DONTWAIT).
    #[inline]
    pub(crate) fn recv(
        &mut self,
        fd: RawFd,
        socket: usize,
        flags: i32,
        counters: &mut Counters,
    ) -> io::Result<Batch<'_>> {
        // MSG_TRUNC makes the kernel return the real length of a datagram longer than the
        // buffer.
        let flags = flags | libc::MSG_TRUNC;
        let cap = self.bufs.buf().len();
        if !self.use_msg {
            // The bare loop's call: only the lengths (and the address, when asked for) change
            // from one datagram to the next; the record's other fields stay as made.
            let full = self.bufs.recvfrom(fd, flags, self.names)?;
            let rx_ns = self.clock.now();
            let m = &mut self.metas[0];
            m.len = full.min(cap);
            m.wire_len = full;
            m.truncated = full > cap;
            if self.names {
                m.source = cmsg::sockaddr(self.bufs.name()).unwrap_or(RecvMeta::EMPTY.source);
            }
            let mut batch = Batch::new(self.bufs.buf(), &self.metas, rx_ns, socket);
            batch.kernel_drops = counters.kernel_drops;
            return Ok(batch);
        }
        let r = self.bufs.recvmsg(fd, flags, self.names)?;
        let (full, msg_flags, info) =
            (r.len, r.msg_flags, cmsg::parse(self.bufs.control(r.control_len)));
        let rx_ns = self.clock.now();
        let len = full.min(cap);
        let truncated = full > cap || msg_flags & libc::MSG_TRUNC != 0;
        if info.drops.is_some() {
            counters.kernel_drops = info.drops;
        }
        self.metas[0] = RecvMeta {
            offset: 0,
            len,
            wire_len: full,
            source: if self.names {
                cmsg::sockaddr(self.bufs.name()).unwrap_or(RecvMeta::EMPTY.source)
            } else {
                RecvMeta::EMPTY.source
            },
            segment_size: info.segment_size,
            truncated,
            kernel_rx_ns: info.rx_ns,
            dst_ip: info.dst_ip,
            ifindex: info.ifindex,
            ecn: info.ecn,
        };
        let mut batch = Batch::new(self.bufs.buf(), &self.metas, rx_ns, socket);
        batch.kernel_drops = counters.kernel_drops;
        Ok(batch)
    }
}
