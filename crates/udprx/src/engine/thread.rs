//! One receive thread: pins itself, makes its handler, runs its source's loop and measures
//! what the thread cost and what the kernel dropped.

use std::os::fd::AsRawFd;
use std::sync::atomic::AtomicBool;

use socket2::Socket;

use super::{ThreadInfo, ThreadResult};
use crate::batch::Handler;
use crate::error::Error;
use crate::method::{self, LoopConfig, LoopCtx};
use crate::pull::PullReceiver;
use crate::sys;

/// What one receive thread reads from.
pub(super) enum Source<'a> {
    /// A UDP socket (the socket methods), handed to the thread's pull receiver.
    Socket(Socket),
    /// An AF_XDP socket (`xdp`).
    Xsk(&'a mut sys::xsk::Xsk),
    /// The per-CPU counter map (`xdp-drop`).
    Counter(&'a std::os::fd::OwnedFd),
}

pub(super) fn thread_main<H, F>(
    source: Source<'_>,
    info: ThreadInfo,
    cfg: &LoopConfig,
    factory: &F,
    stop: &AtomicBool,
    deadline_ns: Option<u64>,
) -> Result<(H, ThreadResult), Error>
where
    H: Handler,
    F: Fn(&ThreadInfo) -> H + Sync,
{
    if let Some(cpu) = info.cpu
        && !sys::pin_current_thread(cpu)
    {
        return Err(Error::Pin { socket: info.socket, cpu });
    }
    let mut handler = factory(&info);
    let (u0, s0) = sys::thread_rusage();
    let mut ctx = LoopCtx::new(info.socket, cfg, &mut handler, stop, deadline_ns);
    let mut xsk_drops = None;
    // The socket's drop counter once the loop has ended, read while the socket is still open:
    // SO_MEMINFO (one system call), or the `drops` column of /proc/net/udp{,6} where the kernel
    // refuses SO_MEMINFO (the same counter; the file is read only then).
    let mut end_drops = 0u64;
    let mut fallback = None;
    let r = match source {
        Source::Xsk(x) => {
            let r = method::xdp::run(&mut ctx, x);
            xsk_drops = x.stats().ok().map(|s| s.drops());
            r
        }
        Source::Counter(c) => method::xdp::run_counter(&mut ctx, c),
        // The socket methods: the loop is the pull receiver's `recv_batch`, handed on.
        Source::Socket(sock) => match PullReceiver::new(sock, info.socket, info.method, cfg) {
            Ok(mut rx) => {
                let r = crate::pull::drive(&mut ctx, &mut rx);
                fallback = rx.fallback().map(str::to_string);
                let fd = rx.as_raw_fd();
                end_drops = sys::socket::meminfo_drops(fd)
                    .map(u64::from)
                    .or_else(|| sys::proc::socket_inode(fd).and_then(sys::proc::udp_drops))
                    .unwrap_or(0);
                r
            }
            Err(e) => Err(e),
        },
    };
    let stats = ctx.stats;
    let (u1, s1) = sys::thread_rusage();
    r?;
    let result = ThreadResult {
        socket: info.socket,
        cpu: info.cpu,
        cpu_user_ns: u1.saturating_sub(u0),
        cpu_sys_ns: s1.saturating_sub(s0),
        kernel_drops: end_drops
            .max(stats.kernel_drops.unwrap_or(0) as u64)
            .max(xsk_drops.unwrap_or(0)),
        enobufs: stats.enobufs,
        rearms: stats.rearms,
        buffers: stats.buffers,
        batches: stats.batches,
        bad_frames: stats.bad_frames,
        napi: stats.napi,
        epoll_wakeups: stats.epoll_wakeups,
        fallback,
    };
    Ok((handler, result))
}
