//! Batched receive: `recvmmsg(2)` over header arrays allocated once per thread.
//!
//! By default MSG_WAITFORONE: block for the first datagram, then take what is queued. With
//! `full_batch` the call blocks until the batch is full (or the receive timeout), which sleeps
//! least per datagram under load but delays datagrams at low rates.

use std::io;

use udpprobe::{Clock, now_ns};

use crate::batch::{Batch, Handler, RecvMeta};
use crate::error::Error;
use crate::method::{LoopCtx, is_wouldblock};
use crate::sys::cmsg::{self, NAME_LEN};

#[derive(Clone, Copy)]
#[repr(C, align(8))]
struct Name([u8; NAME_LEN]);

/// Runs the loop until stop, deadline or an error.
pub(crate) fn run<H: Handler>(ctx: &mut LoopCtx<'_, H>) -> Result<(), Error> {
    let n = ctx.cfg.batch;
    let size = ctx.cfg.buffer_size;
    let want_cmsg = true; // SO_RXQ_OVFL is always on for this method
    let mut arena = vec![0u8; n * size];
    let mut names = vec![Name([0; NAME_LEN]); n];
    // Control space per datagram is only as large as the options asked for need (PKTINFO and
    // TOS/TCLASS add 64 bytes); one byte region, its start aligned to 8 (cmsghdr alignment).
    let control_len = ctx.cfg.control_len();
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
        h.msg_name = names[i].0.as_mut_ptr().cast();
        if want_cmsg {
            h.msg_control = controls[cbase + i * control_len..].as_mut_ptr().cast();
        }
    }
    let mut metas = vec![RecvMeta::EMPTY; n];
    let wait = if ctx.cfg.full_batch { 0 } else { libc::MSG_WAITFORONE };
    // MSG_TRUNC applies to every message of the call: `msg_len` is then the datagram's real
    // length even when it was longer than its buffer (and `msg_flags` says it was cut).
    let flags = wait | libc::MSG_TRUNC | if ctx.cfg.spin { libc::MSG_DONTWAIT } else { 0 };
    let mut used = n;
    loop {
        for m in &mut msgs[..used] {
            m.msg_hdr.msg_namelen = NAME_LEN as libc::socklen_t;
            m.msg_hdr.msg_controllen = if want_cmsg { control_len as _ } else { 0 };
            m.msg_hdr.msg_flags = 0;
        }
        // SAFETY: every header points at its own `iovs`/`names`/`controls` entry with the true
        // lengths, and those vectors (and `arena`) live, unmoved, for the whole loop.
        let got = unsafe {
            libc::recvmmsg(
                ctx.fd,
                msgs.as_mut_ptr(),
                n as libc::c_uint,
                flags,
                std::ptr::null_mut(),
            )
        };
        if got < 0 {
            let e = io::Error::last_os_error();
            if is_wouldblock(&e) {
                used = 0;
                if !ctx.idle() {
                    return Ok(());
                }
                continue;
            }
            return Err(Error::Recv { socket: ctx.socket, call: "recvmmsg", source: e });
        }
        used = got as usize;
        let rx_ns = now_ns(Clock::Monotonic);
        for i in 0..used {
            let m = &msgs[i];
            let full = m.msg_len as usize;
            let h = &m.msg_hdr;
            let clen = cmsg::control_len(h);
            let off = cbase + i * control_len;
            let info = cmsg::parse(&controls[off..off + clen.min(control_len)]);
            if info.drops.is_some() {
                ctx.stats.kernel_drops = info.drops;
            }
            metas[i] = RecvMeta {
                offset: i * size,
                len: full.min(size),
                wire_len: full,
                source: cmsg::sockaddr(&names[i].0).unwrap_or(RecvMeta::EMPTY.source),
                segment_size: info.segment_size,
                truncated: full > size || h.msg_flags & libc::MSG_TRUNC != 0,
                kernel_rx_ns: info.rx_ns,
                dst_ip: info.dst_ip,
                ifindex: info.ifindex,
                ecn: info.ecn,
            };
        }
        let mut batch = Batch::new(&arena, &metas[..used], rx_ns, ctx.socket);
        batch.kernel_drops = ctx.stats.kernel_drops;
        if !ctx.deliver(&batch) {
            return Ok(());
        }
    }
}
