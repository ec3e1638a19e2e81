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

use udpprobe::{Clock, now_ns};

use crate::batch::{Batch, RecvMeta};
use crate::method::{Counters, LoopConfig};
use crate::sys::cmsg::{self, NAME_LEN};

#[derive(Clone, Copy)]
#[repr(C, align(8))]
struct Name([u8; NAME_LEN]);

/// The arena, the header arrays and the metadata of one `recvmmsg` receiver.
pub(crate) struct Recvmmsg {
    n: usize,
    size: usize,
    /// Lean: no name and no control area per header.
    lean: bool,
    name_len: libc::socklen_t,
    control_len: usize,
    /// Start of the first control area in `controls` (aligned to 8).
    cbase: usize,
    wait: i32,
    /// Headers the last call filled (their lengths are reset before the next call).
    used: usize,
    arena: Vec<u8>,
    names: Vec<Name>,
    controls: Vec<u8>,
    /// Referred to by `msgs`; kept alive (and unmoved: heap) with them.
    _iovs: Vec<libc::iovec>,
    msgs: Vec<libc::mmsghdr>,
    metas: Vec<RecvMeta>,
}

impl Recvmmsg {
    pub(crate) fn new(cfg: &LoopConfig) -> Recvmmsg {
        let n = cfg.batch;
        let size = cfg.buffer_size;
        let mut arena = vec![0u8; n * size];
        let mut names = vec![Name([0; NAME_LEN]); n];
        // Control space per datagram is only as large as the options asked for need (PKTINFO
        // and TOS/TCLASS add 64 bytes); one byte region, its start aligned to 8 (cmsghdr
        // alignment). SO_RXQ_OVFL is always on for this method.
        let lean = cfg.lean;
        let control_len = if lean { 0 } else { cfg.control_len() };
        let mut controls = vec![0u8; n * control_len + 8];
        let cbase = controls.as_ptr().align_offset(8).min(8);
        let mut iovs: Vec<libc::iovec> = arena
            .chunks_mut(size)
            .map(|c| libc::iovec { iov_base: c.as_mut_ptr().cast(), iov_len: c.len() })
            .collect();
        // SAFETY: all-zero is a valid mmsghdr (null pointers, zero lengths).
        let mut msgs: Vec<libc::mmsghdr> = (0..n).map(|_| unsafe { std::mem::zeroed() }).collect();
        for i in 0..n {
            let h = &mut msgs[i].msg_hdr;
            h.msg_iov = &mut iovs[i];
            h.msg_iovlen = 1;
            if !lean {
                h.msg_name = names[i].0.as_mut_ptr().cast();
                h.msg_control = controls[cbase + i * control_len..].as_mut_ptr().cast();
            }
        }
        Recvmmsg {
            n,
            size,
            lean,
            name_len: if lean { 0 } else { NAME_LEN as libc::socklen_t },
            control_len,
            cbase,
            wait: if cfg.full_batch { 0 } else { libc::MSG_WAITFORONE },
            used: n,
            arena,
            names,
            controls,
            _iovs: iovs,
            msgs,
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
        for m in &mut self.msgs[..self.used] {
            m.msg_hdr.msg_namelen = self.name_len;
            m.msg_hdr.msg_controllen = self.control_len as _;
            m.msg_hdr.msg_flags = 0;
        }
        // MSG_TRUNC applies to every message of the call: `msg_len` is then the datagram's real
        // length even when it was longer than its buffer (and `msg_flags` says it was cut).
        let flags = self.wait | libc::MSG_TRUNC | flags;
        // SAFETY: every header points at its own `iovs` entry and, unless lean (NULL, length 0),
        // its own `names`/`controls` entry, with the true lengths; those vectors (and `arena`)
        // live, unmoved, as long as `self`.
        let got = unsafe {
            libc::recvmmsg(
                fd,
                self.msgs.as_mut_ptr(),
                self.n as libc::c_uint,
                flags,
                std::ptr::null_mut(),
            )
        };
        if got <= 0 {
            self.used = 0;
            return Err(if got < 0 {
                io::Error::last_os_error()
            } else {
                io::ErrorKind::WouldBlock.into()
            });
        }
        let used = got as usize;
        self.used = used;
        let rx_ns = now_ns(Clock::Monotonic);
        let size = self.size;
        for i in 0..used {
            let m = &self.msgs[i];
            let full = m.msg_len as usize;
            let h = &m.msg_hdr;
            if self.lean {
                self.metas[i] = RecvMeta {
                    offset: i * size,
                    len: full.min(size),
                    wire_len: full,
                    truncated: full > size || h.msg_flags & libc::MSG_TRUNC != 0,
                    ..RecvMeta::EMPTY
                };
                continue;
            }
            let clen = cmsg::control_len(h).min(self.control_len);
            let off = self.cbase + i * self.control_len;
            let info = cmsg::parse(&self.controls[off..off + clen]);
            if info.drops.is_some() {
                counters.kernel_drops = info.drops;
            }
            self.metas[i] = RecvMeta {
                offset: i * size,
                len: full.min(size),
                wire_len: full,
                source: cmsg::sockaddr(&self.names[i].0).unwrap_or(RecvMeta::EMPTY.source),
                segment_size: info.segment_size,
                truncated: full > size || h.msg_flags & libc::MSG_TRUNC != 0,
                kernel_rx_ns: info.rx_ns,
                dst_ip: info.dst_ip,
                ifindex: info.ifindex,
                ecn: info.ecn,
            };
        }
        let mut batch = Batch::new(&self.arena, &self.metas[..used], rx_ns, socket);
        batch.kernel_drops = counters.kernel_drops;
        Ok(batch)
    }
}
