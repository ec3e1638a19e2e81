//! Handler-driven engine vs pull API, same method, same per-datagram work: receives for a fixed
//! time on one pinned thread and prints what it got and the thread's CPU time per datagram.
//!
//! ```text
//! pull_bench ADDR handler|pull METHOD SECONDS CPU
//! ```
//! `handler`: `Receiver::run` with one socket pinned to CPU (the engine's loop). `pull`: this
//! thread pinned to CPU, `into_pull`, and a plain `recv_batch` loop until the deadline. Both
//! count datagrams and bytes and read each payload's first byte. Meant to be run alternately
//! against a paced sender (e.g. udpflood across a veth pair with RPS) to compare the two.
//! Prints one line: `mode method datagrams seconds cpu_ns ns_per_datagram kernel_drops`.

use std::net::SocketAddr;
use std::time::{Duration, Instant};

use udprx::{Batch, Flow, Handler, Method, Receiver};

#[derive(Default)]
struct Count {
    datagrams: u64,
    bytes: u64,
    check: u8,
}

impl Count {
    #[inline]
    fn take(&mut self, batch: &Batch<'_>) {
        for d in batch.iter() {
            self.datagrams += d.segment_count() as u64;
            self.bytes += d.payload.len() as u64;
            self.check ^= d.payload.first().copied().unwrap_or(0);
        }
    }
}

impl Handler for Count {
    fn on_batch(&mut self, batch: &Batch<'_>) -> Flow {
        self.take(batch);
        Flow::Continue
    }
}

/// CPU time of the calling thread, ns.
fn thread_cpu_ns() -> u64 {
    let mut ts = libc::timespec { tv_sec: 0, tv_nsec: 0 };
    // SAFETY: `ts` is a valid, writable timespec.
    unsafe { libc::clock_gettime(libc::CLOCK_THREAD_CPUTIME_ID, &mut ts) };
    ts.tv_sec as u64 * 1_000_000_000 + ts.tv_nsec as u64
}

fn usage(msg: &str) -> ! {
    eprintln!("pull_bench: {msg}\nusage: pull_bench ADDR handler|pull METHOD SECONDS CPU");
    std::process::exit(2)
}

fn main() {
    let a: Vec<String> = std::env::args().skip(1).collect();
    if a.len() != 5 {
        usage("expected 5 arguments");
    }
    let addr: SocketAddr = a[0].parse().unwrap_or_else(|e| usage(&format!("address: {e}")));
    let mode = a[1].as_str();
    let method: Method = a[2].parse().unwrap_or_else(|e: String| usage(&e));
    let secs: f64 = a[3].parse().unwrap_or_else(|e| usage(&format!("seconds: {e}")));
    let dur = Duration::try_from_secs_f64(secs)
        .ok()
        .filter(|d| !d.is_zero() && d.as_secs() < 3600)
        .unwrap_or_else(|| usage("seconds must be in (0, 3600)"));
    let cpu: usize = a[4].parse().unwrap_or_else(|e| usage(&format!("cpu: {e}")));
    let b = Receiver::builder(addr).method(method).rcvbuf(Some(8 << 20));
    let fail = |e: udprx::Error| -> ! {
        eprintln!("pull_bench: {e}");
        std::process::exit(1)
    };
    let (count, cpu_ns, drops, elapsed) = match mode {
        "handler" => {
            let rx = b.cpus(vec![cpu]).duration(Some(dur)).build().unwrap_or_else(|e| fail(e));
            let out = rx.run(|_| Count::default()).unwrap_or_else(|e| fail(e));
            let t = &out.threads[0];
            let c = out.handlers.into_iter().next().expect("one handler");
            (c, t.cpu_user_ns + t.cpu_sys_ns, t.kernel_drops, out.elapsed)
        }
        "pull" => {
            if !core_affinity::set_for_current(core_affinity::CoreId { id: cpu }) {
                usage(&format!("cannot pin to CPU {cpu}"));
            }
            let rx = b.cpus(vec![]).build().unwrap_or_else(|e| fail(e));
            let mut pull = rx.into_pull().unwrap_or_else(|e| fail(e)).remove(0);
            // A thread of its own: sleep in the kernel when idle, as the engine does.
            pull.set_nonblocking(false);
            let mut c = Count::default();
            let t0 = Instant::now();
            let c0 = thread_cpu_ns();
            // The deadline is checked once per batch or idle wait, as the engine does.
            while t0.elapsed() < dur {
                match pull.recv_batch() {
                    Ok(batch) => c.take(&batch),
                    Err(e)
                        if matches!(
                            e.kind(),
                            std::io::ErrorKind::WouldBlock | std::io::ErrorKind::Interrupted
                        ) => {}
                    Err(e) => {
                        eprintln!("pull_bench: {e}");
                        std::process::exit(1);
                    }
                }
            }
            let cpu_ns = thread_cpu_ns() - c0;
            let drops = pull.counters().kernel_drops.unwrap_or(0) as u64;
            (c, cpu_ns, drops, t0.elapsed())
        }
        other => usage(&format!("mode must be handler or pull, got {other}")),
    };
    println!(
        "{mode} {method} {} {:.3} {cpu_ns} {:.1} {drops} (bytes {}, check {})",
        count.datagrams,
        elapsed.as_secs_f64(),
        cpu_ns as f64 / count.datagrams.max(1) as f64,
        count.bytes,
        count.check
    );
}
