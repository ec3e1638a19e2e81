//! The baseline: one datagram per system call.
//!
//! Without control messages (no `gro`, no `timestamps`) this is plain `recvfrom(2)`, exactly what
//! a classic server does; the socket's drops are then read from `/proc/net/udp` at the end of the
//! run. When the kernel must hand over control messages it becomes `recvmsg(2)` with one
//! datagram per call (same cost class), and SO_RXQ_OVFL is read per datagram.

use std::io;

use udpprobe::{Clock, now_ns};

use crate::batch::{Batch, Handler, RecvMeta};
use crate::error::Error;
use crate::method::{LoopCtx, is_wouldblock};
use crate::sys::cmsg::{self, CONTROL_LEN, NAME_LEN};

#[repr(C, align(8))]
struct Aligned<const N: usize>([u8; N]);

/// Runs the loop until stop, deadline or an error.
pub(crate) fn run<H: Handler>(ctx: &mut LoopCtx<'_, H>) -> Result<(), Error> {
    let use_msg = ctx.cfg.gro || ctx.cfg.timestamps || ctx.cfg.pktinfo || ctx.cfg.ecn;
    let control_len = ctx.cfg.control_len();
    let flags = if ctx.cfg.spin { libc::MSG_DONTWAIT } else { 0 };
    let mut buf = vec![0u8; ctx.cfg.buffer_size];
    let mut name = Aligned([0u8; NAME_LEN]);
    let mut control = Aligned([0u8; CONTROL_LEN]);
    let mut metas = [RecvMeta::EMPTY];
    let mut iov = libc::iovec { iov_base: buf.as_mut_ptr().cast(), iov_len: buf.len() };
    // SAFETY: all-zero is a valid msghdr (null pointers, zero lengths).
    let mut msg: libc::msghdr = unsafe { std::mem::zeroed() };
    msg.msg_iov = &mut iov;
    msg.msg_iovlen = 1;
    loop {
        let mut namelen = NAME_LEN as libc::socklen_t;
        let n = if use_msg {
            msg.msg_name = name.0.as_mut_ptr().cast();
            msg.msg_namelen = NAME_LEN as libc::socklen_t;
            msg.msg_control = control.0.as_mut_ptr().cast();
            msg.msg_controllen = control_len as _;
            msg.msg_flags = 0;
            // SAFETY: `msg` points at `iov` (the live `buf`), `name` and `control`, each with its
            // true length; all outlive the call. MSG_TRUNC makes the kernel return the real
            // length of a datagram longer than the buffer.
            unsafe { libc::recvmsg(ctx.fd, &mut msg, flags | libc::MSG_TRUNC) }
        } else {
            // SAFETY: `buf` and `name` are live and writable for the lengths passed.
            unsafe {
                libc::recvfrom(
                    ctx.fd,
                    buf.as_mut_ptr().cast(),
                    buf.len(),
                    flags | libc::MSG_TRUNC,
                    name.0.as_mut_ptr().cast(),
                    &mut namelen,
                )
            }
        };
        if n < 0 {
            let e = io::Error::last_os_error();
            if is_wouldblock(&e) {
                if !ctx.idle() {
                    return Ok(());
                }
                continue;
            }
            let call = if use_msg { "recvmsg" } else { "recvfrom" };
            return Err(Error::Recv { socket: ctx.socket, call, source: e });
        }
        let rx_ns = now_ns(Clock::Monotonic);
        let full = n as usize;
        let len = full.min(buf.len());
        let mut truncated = full > buf.len();
        let info = if use_msg {
            truncated |= msg.msg_flags & libc::MSG_TRUNC != 0;
            let clen = cmsg::control_len(&msg);
            cmsg::parse(&control.0[..clen])
        } else {
            cmsg::CmsgInfo::default()
        };
        if info.drops.is_some() {
            ctx.stats.kernel_drops = info.drops;
        }
        metas[0] = RecvMeta {
            offset: 0,
            len,
            wire_len: full,
            source: cmsg::sockaddr(&name.0).unwrap_or(RecvMeta::EMPTY.source),
            segment_size: info.segment_size,
            truncated,
            kernel_rx_ns: info.rx_ns,
            dst_ip: info.dst_ip,
            ifindex: info.ifindex,
            ecn: info.ecn,
        };
        let mut batch = Batch::new(&buf, &metas, rx_ns, ctx.socket);
        batch.kernel_drops = ctx.stats.kernel_drops;
        if !ctx.deliver(&batch) {
            return Ok(());
        }
    }
}
