//! Test helpers: loopback senders writing probe headers, and a collecting handler.
#![allow(dead_code)]

use std::collections::HashMap;
use std::net::{SocketAddr, UdpSocket};
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use udpprobe::{Clock, Repr, now_ns};
use udprx::{Batch, Flow, Handler, Method, Receiver, ReceiverBuilder, RunOutput, ThreadInfo};

#[path = "skip.rs"]
pub mod skip;
#[allow(unused_imports)]
pub use skip::{Need, root_or_skip, skip, skip_part};

/// A big receive buffer so a noisy machine never drops at test rates.
pub const RCVBUF: usize = 8 << 20;

/// Writes a probe header for (flow, seq) into `buf`.
pub fn stamp(buf: &mut [u8], flow: u8, seq: u64) {
    Repr { flow, seq, sender: 0, tx_ns: now_ns(Clock::Monotonic), clock: Clock::Monotonic }
        .emit_into(buf)
        .expect("buffer holds a header");
}

/// A sender socket of `dst`'s family on loopback, connected to `dst`.
pub fn sender_socket(dst: SocketAddr) -> UdpSocket {
    let bind: SocketAddr = if dst.is_ipv4() { "127.0.0.1:0" } else { "[::1]:0" }.parse().unwrap();
    let s = UdpSocket::bind(bind).expect("bind sender");
    s.connect(dst).expect("connect");
    s
}

/// Sends `per_flow` datagrams of `len` bytes for each flow in `flows`, one thread per flow
/// (pinned to `cpu` when given), at a modest rate (a 1 ms pause every 32 datagrams).
pub fn send_flows(
    dst: SocketAddr,
    flows: std::ops::Range<u8>,
    per_flow: u64,
    len: usize,
    cpu: Option<usize>,
) -> Vec<JoinHandle<()>> {
    flows
        .map(|flow| {
            std::thread::spawn(move || {
                if let Some(c) = cpu {
                    assert!(core_affinity::set_for_current(core_affinity::CoreId { id: c }));
                }
                let s = sender_socket(dst);
                let mut buf = vec![0u8; len.max(udpprobe::HEADER_LEN)];
                for seq in 0..per_flow {
                    stamp(&mut buf, flow, seq);
                    match s.send(&buf) {
                        Ok(_) => {}
                        // The receiver already stopped and closed its socket.
                        Err(e) if e.kind() == std::io::ErrorKind::ConnectionRefused => break,
                        Err(e) => panic!("send: {e}"),
                    }
                    if seq % 32 == 31 {
                        std::thread::sleep(Duration::from_millis(1));
                    }
                }
            })
        })
        .collect()
}

/// Joins sender threads.
pub fn join(handles: Vec<JoinHandle<()>>) {
    for h in handles {
        h.join().expect("sender thread");
    }
}

/// Collects every datagram's (flow, seq) or marks it foreign/truncated. Allocates: tests only.
#[derive(Debug, Default)]
pub struct Collector {
    pub socket: usize,
    pub seen: Vec<(u8, u64)>,
    pub foreign: u64,
    pub truncated: u64,
    pub buffers: u64,
    pub max_segments: usize,
    pub sources: HashMap<SocketAddr, u64>,
    pub timestamps: u64,
    pub last_kernel_drops: Option<u32>,
    pub total: Arc<AtomicUsize>,
}

impl Handler for Collector {
    fn on_batch(&mut self, batch: &Batch<'_>) -> Flow {
        let mut n = 0;
        self.last_kernel_drops = batch.kernel_drops;
        for d in batch.iter() {
            self.buffers += 1;
            *self.sources.entry(d.source).or_default() += 1;
            if d.kernel_rx_ns.is_some() {
                self.timestamps += 1;
            }
            if d.truncated {
                self.truncated += 1;
            }
            self.max_segments = self.max_segments.max(d.segment_count());
            for seg in d.segments() {
                n += 1;
                match Repr::from_bytes(seg) {
                    Ok(r) => self.seen.push((r.flow, r.seq)),
                    Err(_) => self.foreign += 1,
                }
            }
        }
        self.total.fetch_add(n, Ordering::Relaxed);
        Flow::Continue
    }
}

/// A collector factory sharing one total counter.
pub fn collector(total: &Arc<AtomicUsize>) -> impl Fn(&ThreadInfo) -> Collector + Sync + use<> {
    let total = total.clone();
    move |info| Collector { socket: info.socket, total: total.clone(), ..Default::default() }
}

/// Builds `b`, or returns `None` when io_uring is not usable here, after recording the skip of
/// the test's io_uring part (a visible skip: see `skip`).
pub fn build_or_skip(b: ReceiverBuilder, method: Method) -> Option<Receiver> {
    match b.build() {
        Ok(r) => Some(r),
        Err(udprx::Error::UringUnavailable(why))
            if matches!(method, Method::Uring | Method::UringRecv) =>
        {
            skip_part(Need::Feature, "uring", &format!("io_uring unavailable: {why}"));
            None
        }
        Err(e) => panic!("build failed: {e}"),
    }
}

/// Runs `rx` with collectors in a thread, calls `send`, waits until `expected` datagrams were
/// counted (or 20 s), lingers 300 ms to catch duplicates, stops, and returns the output.
pub fn run_collect(
    rx: Receiver,
    expected: usize,
    send: impl FnOnce(SocketAddr),
) -> RunOutput<Collector> {
    let total = Arc::new(AtomicUsize::new(0));
    let stop = rx.stop_handle();
    let addr = rx.local_addr();
    let factory = collector(&total);
    let runner = std::thread::spawn(move || rx.run(factory));
    send(addr);
    let t0 = Instant::now();
    while total.load(Ordering::Relaxed) < expected && t0.elapsed() < Duration::from_secs(20) {
        std::thread::sleep(Duration::from_millis(10));
    }
    std::thread::sleep(Duration::from_millis(300));
    stop.stop();
    runner.join().expect("receiver thread").expect("run")
}

/// All (flow, seq) pairs from every handler, sorted.
pub fn all_seen(out: &RunOutput<Collector>) -> Vec<(u8, u64)> {
    let mut v: Vec<_> = out.handlers.iter().flat_map(|h| h.seen.iter().copied()).collect();
    v.sort_unstable();
    v
}

/// The (flow, seq) set `flows × 0..per_flow`, sorted.
pub fn expected_set(flows: std::ops::Range<u8>, per_flow: u64) -> Vec<(u8, u64)> {
    flows.flat_map(|f| (0..per_flow).map(move |s| (f, s))).collect()
}

/// Sends `count` GSO buffers of `segs` datagrams of `seg_len` bytes each for `flow`
/// (UDP_SEGMENT on the sender socket), sequence numbers consecutive from 0.
pub fn send_gso(dst: SocketAddr, flow: u8, count: u64, segs: u64, seg_len: usize) {
    use std::os::fd::AsRawFd;
    let s = sender_socket(dst);
    let val: libc::c_int = seg_len as libc::c_int;
    // SAFETY: `val` is a live c_int whose size is passed; the kernel only reads it.
    let rc = unsafe {
        libc::setsockopt(
            s.as_raw_fd(),
            libc::SOL_UDP,
            103, // UDP_SEGMENT
            (&val as *const libc::c_int).cast(),
            std::mem::size_of::<libc::c_int>() as libc::socklen_t,
        )
    };
    assert_eq!(rc, 0, "UDP_SEGMENT: {}", std::io::Error::last_os_error());
    let mut buf = vec![0u8; seg_len * segs as usize];
    for i in 0..count {
        for j in 0..segs {
            let off = j as usize * seg_len;
            stamp(&mut buf[off..off + seg_len], flow, i * segs + j);
        }
        s.send(&buf).expect("send gso");
        std::thread::sleep(Duration::from_millis(1));
    }
}

/// Makes `cmd` run under a seccomp filter that refuses `io_uring_setup` with EPERM, as a sandbox
/// or `kernel.io_uring_disabled` would.
#[cfg(target_arch = "x86_64")]
pub fn without_io_uring(cmd: &mut std::process::Command) {
    const SYS_IO_URING_SETUP: u32 = 425;
    let insn = |code: u16, jt: u8, jf: u8, k: u32| libc::sock_filter { code, jt, jf, k };
    let prog = vec![
        insn(0x20, 0, 0, 0),                                // ld [nr]
        insn(0x15, 0, 1, SYS_IO_URING_SETUP),               // jeq io_uring_setup, else skip one
        insn(0x06, 0, 0, 0x0005_0000 | libc::EPERM as u32), // ret ERRNO(EPERM)
        insn(0x06, 0, 0, 0x7fff_0000),                      // ret ALLOW
    ];
    under_seccomp(cmd, prog);
}

/// Makes `cmd` run under the seccomp filter `prog` (installed in the child before exec).
pub fn under_seccomp(cmd: &mut std::process::Command, prog: Vec<libc::sock_filter>) {
    use std::os::unix::process::CommandExt;
    // SAFETY: the closure runs in the forked child before exec and only makes two prctl calls
    // (async-signal-safe) on a filter array that lives in the child's copy of our memory.
    unsafe {
        cmd.pre_exec(move || {
            let fprog =
                libc::sock_fprog { len: prog.len() as u16, filter: prog.as_ptr() as *mut _ };
            if libc::prctl(libc::PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) != 0
                || libc::prctl(libc::PR_SET_SECCOMP, 2, &fprog as *const libc::sock_fprog) != 0
            {
                return Err(std::io::Error::last_os_error());
            }
            Ok(())
        });
    }
}
