//! Batched receive: `recvmmsg(2)` over header arrays allocated once per thread.
//!
//! By default MSG_WAITFORONE: block for the first datagram, then take what is queued. With
//! `full_batch` the call blocks until the batch is full (or the receive timeout), which sleeps
//! least per datagram under load but delays datagrams at low rates.
//!
//! Lean (`ReceiverBuilder::lean`): the headers carry no name and no control buffer, so the
//! kernel writes neither a source address nor an SO_RXQ_OVFL message per datagram (the socket
//! does not set SO_RXQ_OVFL). Every datagram reports `0.0.0.0:0`; the drop counter is read
//! with SO_MEMINFO once per idle interval and when idle.

use std::io;

use udpprobe::{Clock, now_ns};

use crate::batch::{Batch, Handler, RecvMeta};
use crate::error::Error;
use crate::method::{LoopCtx, is_wouldblock};
use crate::sys::cmsg::{self, CONTROL_LEN, NAME_LEN};

#[derive(Clone, Copy)]
#[repr(C, align(8))]
struct Name([u8; NAME_LEN]);

#[derive(Clone, Copy)]
#[repr(C, align(8))]
struct Control([u8; CONTROL_LEN]);

/// Runs the loop until stop, deadline or an error.
pub(crate) fn run<H: Handler>(ctx: &mut LoopCtx<'_, H>) -> Result<(), Error> {
    let n = ctx.cfg.batch;
    let size = ctx.cfg.buffer_size;
    // SO_RXQ_OVFL is on for this method unless lean; lean also leaves the source address out.
    let lean = ctx.cfg.lean;
    let want_cmsg = !lean;
    let name_len = if lean { 0 } else { NAME_LEN as libc::socklen_t };
    let mut arena = vec![0u8; n * size];
    let side = if lean { 0 } else { n };
    let mut names = vec![Name([0; NAME_LEN]); side];
    let mut controls = vec![Control([0; CONTROL_LEN]); side];
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
        }
        if want_cmsg {
            h.msg_control = controls[i].0.as_mut_ptr().cast();
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
            m.msg_hdr.msg_namelen = name_len;
            m.msg_hdr.msg_controllen = if want_cmsg { CONTROL_LEN as _ } else { 0 };
            m.msg_hdr.msg_flags = 0;
        }
        // SAFETY: every header points at its own `iovs` entry and, unless lean (NULL, length 0),
        // its own `names`/`controls` entry, with the true lengths; those vectors (and `arena`)
        // live, unmoved, for the whole loop.
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
        if lean {
            ctx.poll_drops(rx_ns);
            for i in 0..used {
                let m = &msgs[i];
                let full = m.msg_len as usize;
                metas[i] = RecvMeta {
                    offset: i * size,
                    len: full.min(size),
                    wire_len: full,
                    truncated: full > size || m.msg_hdr.msg_flags & libc::MSG_TRUNC != 0,
                    ..RecvMeta::EMPTY
                };
            }
        } else {
            for i in 0..used {
                let m = &msgs[i];
                let full = m.msg_len as usize;
                let h = &m.msg_hdr;
                let clen = cmsg::control_len(h);
                let info = cmsg::parse(&controls[i].0[..clen]);
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
                };
            }
        }
        let mut batch = Batch::new(&arena, &metas[..used], rx_ns, ctx.socket);
        batch.kernel_drops = ctx.stats.kernel_drops;
        if !ctx.deliver(&batch) {
            return Ok(());
        }
    }
}
