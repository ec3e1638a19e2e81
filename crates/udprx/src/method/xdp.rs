//! The AF_XDP receive loop (`--method xdp`) and the counter loop of `--method xdp-drop`.
//!
//! `xdp`: peek up to `batch` RX descriptors, parse each frame (Ethernet/IP/UDP, lengths
//! checked) into a [`RecvMeta`] that points into the UMEM, hand the batch to the handler, then
//! give the RX slots back and the frames to the fill ring. No allocation, lock or system call
//! per packet: the loop sleeps in `poll` only when the RX ring is empty.
//!
//! `xdp-drop`: the datagrams never reach user space; the loop reads the program's per-CPU
//! counter every few milliseconds and reports the growth with [`Handler::on_counted`].

use std::os::fd::OwnedFd;

use crate::clock::{Clock, now_ns};

use crate::batch::{Batch, Flow, Handler, RecvMeta};
use crate::error::Error;
use crate::method::LoopCtx;
use crate::sys::{bpf, xsk};
use crate::xdp::parse;

/// Runs the AF_XDP loop until stop, deadline or an error.
pub(crate) fn run<H: Handler>(ctx: &mut LoopCtx<'_, H>, sock: &mut xsk::Xsk) -> Result<(), Error> {
    let n = ctx.cfg.batch;
    let mut descs = vec![xsk::Desc { addr: 0, len: 0, options: 0 }; n];
    let mut metas = vec![RecvMeta::EMPTY; n];
    let timeout_ms = (ctx.cfg.idle_ns / 1_000_000).clamp(1, i32::MAX as u64) as i32;
    loop {
        let got = sock.peek(&mut descs);
        if got == 0 {
            if ctx.cfg.spin {
                if sock.fill_needs_wakeup() {
                    sock.kick();
                }
            } else {
                let ready = sock.wait(timeout_ms).map_err(|source| Error::Recv {
                    socket: ctx.socket,
                    call: "poll (AF_XDP)",
                    source,
                })?;
                if ready {
                    continue;
                }
                // A quiet period: refresh the drop counters (one getsockopt per idle wait; a
                // spinning loop reads them once at the end instead).
                if let Ok(s) = sock.stats() {
                    ctx.stats.kernel_drops = Some(s.drops().min(u32::MAX as u64) as u32);
                }
            }
            if !ctx.idle() {
                return Ok(());
            }
            continue;
        }
        let rx_ns = now_ns(Clock::Monotonic);
        let umem = sock.umem();
        let mut used = 0;
        for d in &descs[..got] {
            let start = d.addr as usize;
            let Some(frame) = umem.get(start..start.saturating_add(d.len as usize)) else {
                ctx.stats.bad_frames += 1;
                continue;
            };
            match parse::udp(frame) {
                Ok(u) => {
                    metas[used] = RecvMeta {
                        offset: start + u.offset,
                        len: u.len,
                        // What the frame holds: a UDP length field claiming more is a forged
                        // or broken frame (counted as truncated), not bytes on the wire.
                        wire_len: u.len,
                        source: u.source,
                        segment_size: 0,
                        truncated: u.truncated,
                        ..RecvMeta::EMPTY
                    };
                    used += 1;
                }
                Err(_) => ctx.stats.bad_frames += 1,
            }
        }
        let mut keep_going = true;
        if used > 0 {
            let mut batch = Batch::new(umem, &metas[..used], rx_ns, ctx.socket);
            batch.kernel_drops = ctx.stats.kernel_drops;
            keep_going = ctx.deliver(&batch);
        }
        sock.release(&descs[..got]);
        if sock.fill_needs_wakeup() {
            sock.kick();
        }
        if !keep_going {
            return Ok(());
        }
    }
}

/// How often the `xdp-drop` loop reads the counter.
const COUNTER_PERIOD_NS: u64 = 10_000_000;

/// Runs the `xdp-drop` counter loop until stop, deadline or an error.
pub(crate) fn run_counter<H: Handler>(
    ctx: &mut LoopCtx<'_, H>,
    counter: &OwnedFd,
) -> Result<(), Error> {
    let read = |socket| {
        bpf::percpu_sum_pair(counter, 0).map_err(|source| Error::Recv {
            socket,
            call: "bpf map lookup (xdp-drop counter)",
            source,
        })
    };
    let [mut last, mut bytes_last] = read(ctx.socket)?;
    let period = COUNTER_PERIOD_NS.min(ctx.cfg.idle_ns);
    loop {
        std::thread::sleep(std::time::Duration::from_nanos(period));
        let now = now_ns(Clock::Monotonic);
        let [total, bytes] = read(ctx.socket)?;
        let delta = total.saturating_sub(last);
        if delta > 0 {
            // The program adds UDP lengths, headers included: 8 bytes a datagram less.
            let b = bytes.saturating_sub(bytes_last).saturating_sub(8 * delta);
            last = total;
            bytes_last = bytes;
            ctx.stats.buffers += delta;
            ctx.stats.batches += 1;
            if ctx.handler.on_counted(delta, b, now) == Flow::Stop {
                ctx.stop.store(true, std::sync::atomic::Ordering::Relaxed);
                return Ok(());
            }
            if !ctx.keep_going(now) {
                return Ok(());
            }
        } else if !ctx.idle() {
            return Ok(());
        }
    }
}
