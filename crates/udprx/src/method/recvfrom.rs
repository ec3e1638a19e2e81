//! The baseline: one datagram per system call.
//!
//! Without control messages (no `gro`, `timestamps`, `pktinfo` or `ecn`) this is plain
//! `recvfrom(2)`, exactly what a classic server does; the socket's drops are then read from
//! `/proc/net/udp` at the end of the run. When the kernel must hand over control messages it
//! becomes `recvmsg(2)` with one datagram per call (same cost class), and SO_RXQ_OVFL is read
//! per datagram.
//!
//! Lean (`ReceiverBuilder::lean`): `recvfrom` with a NULL address, so the kernel copies no
//! source address either; every datagram reports `0.0.0.0:0` and the pull receiver reads the
//! drop counter with SO_MEMINFO once per idle interval and when idle.

use std::io;
use std::os::fd::RawFd;

use udpprobe::{Clock, now_ns};

use crate::batch::{Batch, RecvMeta};
use crate::method::{Counters, LoopConfig};
use crate::sys::cmsg::{self, CONTROL_LEN, NAME_LEN};

#[repr(C, align(8))]
struct Aligned<const N: usize>([u8; N]);

/// One buffer, one name and one control area, allocated once.
pub(crate) struct Recvfrom {
    buf: Vec<u8>,
    name: Box<Aligned<NAME_LEN>>,
    control: Box<Aligned<CONTROL_LEN>>,
    metas: [RecvMeta; 1],
    use_msg: bool,
    /// Lean: no source address (NULL to `recvfrom`).
    lean: bool,
    control_len: usize,
}

impl Recvfrom {
    pub(crate) fn new(cfg: &LoopConfig) -> Recvfrom {
        Recvfrom {
            buf: vec![0u8; cfg.buffer_size],
            name: Box::new(Aligned([0u8; NAME_LEN])),
            control: Box::new(Aligned([0u8; CONTROL_LEN])),
            metas: [RecvMeta::EMPTY],
            use_msg: cfg.gro || cfg.timestamps || cfg.pktinfo || cfg.ecn,
            lean: cfg.lean,
            control_len: cfg.control_len(),
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
        let mut namelen = NAME_LEN as libc::socklen_t;
        let buf = &mut self.buf;
        let mut msg_flags = 0;
        let mut clen = 0;
        let n = if self.use_msg {
            let mut iov = libc::iovec { iov_base: buf.as_mut_ptr().cast(), iov_len: buf.len() };
            // SAFETY: all-zero is a valid msghdr (null pointers, zero lengths).
            let mut msg: libc::msghdr = unsafe { std::mem::zeroed() };
            msg.msg_iov = &mut iov;
            msg.msg_iovlen = 1;
            msg.msg_name = self.name.0.as_mut_ptr().cast();
            msg.msg_namelen = NAME_LEN as libc::socklen_t;
            msg.msg_control = self.control.0.as_mut_ptr().cast();
            msg.msg_controllen = self.control_len as _;
            // SAFETY: `msg` points at `iov` (the live `buf`), `name` and `control`, each with its
            // true length; all outlive the call. MSG_TRUNC makes the kernel return the real
            // length of a datagram longer than the buffer.
            let n = unsafe { libc::recvmsg(fd, &mut msg, flags | libc::MSG_TRUNC) };
            msg_flags = msg.msg_flags;
            clen = cmsg::control_len(&msg);
            n
        } else {
            let (addr, addrlen) = if self.lean {
                (std::ptr::null_mut(), std::ptr::null_mut())
            } else {
                (self.name.0.as_mut_ptr().cast(), &mut namelen as *mut libc::socklen_t)
            };
            // SAFETY: `buf` is live and writable for its length; `addr`/`addrlen` are both NULL
            // (no address wanted) or point at the live `name` and `namelen`.
            unsafe {
                libc::recvfrom(
                    fd,
                    buf.as_mut_ptr().cast(),
                    buf.len(),
                    flags | libc::MSG_TRUNC,
                    addr,
                    addrlen,
                )
            }
        };
        if n < 0 {
            return Err(io::Error::last_os_error());
        }
        let rx_ns = now_ns(Clock::Monotonic);
        let full = n as usize;
        let len = full.min(buf.len());
        let truncated = full > buf.len() || msg_flags & libc::MSG_TRUNC != 0;
        let info = if self.use_msg {
            cmsg::parse(&self.control.0[..clen.min(self.control_len)])
        } else {
            cmsg::CmsgInfo::default()
        };
        if info.drops.is_some() {
            counters.kernel_drops = info.drops;
        }
        self.metas[0] = RecvMeta {
            offset: 0,
            len,
            wire_len: full,
            source: if self.lean {
                RecvMeta::EMPTY.source
            } else {
                cmsg::sockaddr(&self.name.0).unwrap_or(RecvMeta::EMPTY.source)
            },
            segment_size: info.segment_size,
            truncated,
            kernel_rx_ns: info.rx_ns,
            dst_ip: info.dst_ip,
            ifindex: info.ifindex,
            ecn: info.ecn,
        };
        let mut batch = Batch::new(&self.buf, &self.metas, rx_ns, socket);
        batch.kernel_drops = counters.kernel_drops;
        Ok(batch)
    }
}
