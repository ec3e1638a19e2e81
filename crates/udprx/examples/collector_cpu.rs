//! CPU per datagram of the same small collector on three receivers, at a paced rate on
//! loopback (issue 24): tokio's `UdpSocket`, udprx's `AsyncReceiver` and udprx's threaded
//! engine. Needs the `tokio` feature; `scripts/collector-cpu.sh` runs the variants interleaved.
//!
//! ```text
//! cargo run --profile test-release -p udprx --features tokio --example collector_cpu -- \
//!     VARIANT RATE SECONDS RX_CPU TX_CPU [METHOD]
//! ```
//! VARIANT: `tokio`, `udprx-async` or `udprx-threaded`; RATE datagrams per second (paced in
//! 1 ms bursts); RX_CPU / TX_CPU the CPUs the receiver and the sender are pinned to; METHOD the
//! udprx method (default recvmmsg). Prints one line: variant, sent, received, receiver CPU ns
//! per datagram (user + system time of the receiving thread, which runs the whole collector:
//! a current-thread runtime for the async variants). Loopback only, bounded by SECONDS.

use std::net::{SocketAddr, UdpSocket};
use std::time::{Duration, Instant};

use udprx::{Batch, Flow, Handler, Method, Receiver};

fn usage(msg: &str) -> ! {
    eprintln!(
        "collector_cpu: {msg}\nusage: collector_cpu VARIANT RATE SECONDS RX_CPU TX_CPU [METHOD]"
    );
    std::process::exit(2)
}

fn pin(cpu: usize) {
    // SAFETY: all-zero is a valid, empty cpu_set_t; `cpu` is checked below CPU_SETSIZE.
    let mut set: libc::cpu_set_t = unsafe { std::mem::zeroed() };
    if cpu >= libc::CPU_SETSIZE as usize {
        usage("cpu out of range");
    }
    // SAFETY: `cpu` is below CPU_SETSIZE.
    unsafe { libc::CPU_SET(cpu, &mut set) };
    // SAFETY: `set` is a valid cpu_set_t of the size passed; pid 0 is this thread.
    if unsafe { libc::sched_setaffinity(0, std::mem::size_of::<libc::cpu_set_t>(), &set) } != 0 {
        usage(&format!("cannot pin to CPU {cpu}: {}", std::io::Error::last_os_error()));
    }
}

/// User + system CPU time of the calling thread, ns.
fn thread_cpu_ns() -> u64 {
    let mut ts = libc::timespec { tv_sec: 0, tv_nsec: 0 };
    // SAFETY: `ts` is a valid, writable timespec.
    unsafe { libc::clock_gettime(libc::CLOCK_THREAD_CPUTIME_ID, &mut ts) };
    ts.tv_sec as u64 * 1_000_000_000 + ts.tv_nsec as u64
}

/// The collector's work per datagram: a `name:value|c` counter summed by name length bucket
/// (enough to touch the bytes, cheap enough not to hide the receive path).
#[derive(Default)]
struct Collector {
    datagrams: u64,
    sum: i64,
}

impl Collector {
    #[inline]
    fn add(&mut self, payload: &[u8]) {
        self.datagrams += 1;
        if let Some(colon) = payload.iter().position(|&b| b == b':') {
            let v = &payload[colon + 1..];
            let end = v.iter().position(|&b| b == b'|').unwrap_or(v.len());
            let n = v[..end].iter().fold(0i64, |a, &b| a * 10 + i64::from(b.wrapping_sub(b'0')));
            self.sum += n;
        }
    }
}

impl Handler for Collector {
    fn on_batch(&mut self, batch: &Batch<'_>) -> Flow {
        for d in batch.iter() {
            self.add(d.payload);
        }
        Flow::Continue
    }
}

/// Paced sender: `rate` per second in 1 ms bursts for `secs`; returns datagrams sent.
fn send(dst: SocketAddr, rate: u64, secs: u64, cpu: usize) -> u64 {
    pin(cpu);
    let s = UdpSocket::bind("127.0.0.1:0").unwrap();
    let per_ms = (rate / 1000).max(1);
    let start = Instant::now();
    let mut sent = 0u64;
    for ms in 0..secs * 1000 {
        let at = start + Duration::from_millis(ms);
        while Instant::now() < at {
            std::thread::sleep(
                at.saturating_duration_since(Instant::now()).min(Duration::from_micros(200)),
            );
        }
        for _ in 0..per_ms {
            if s.send_to(b"requests:1|c", dst).is_ok() {
                sent += 1;
            }
        }
    }
    sent
}

fn main() {
    let a: Vec<String> = std::env::args().skip(1).collect();
    if a.len() < 5 {
        usage("missing arguments");
    }
    let num =
        |s: &str, what: &str| s.parse::<u64>().unwrap_or_else(|e| usage(&format!("{what}: {e}")));
    let variant = a[0].clone();
    let rate = num(&a[1], "rate");
    let secs = num(&a[2], "seconds");
    let (rx_cpu, tx_cpu) = (num(&a[3], "rx cpu") as usize, num(&a[4], "tx cpu") as usize);
    let method: Method = a
        .get(5)
        .map(|m| m.parse().unwrap_or_else(|e: String| usage(&e)))
        .unwrap_or(Method::Recvmmsg);
    if !(1..=1_000_000).contains(&rate) || !(1..=60).contains(&secs) {
        usage("rate must be 1..=1000000 and seconds 1..=60");
    }
    let rcvbuf = Some(8 << 20);
    let deadline = Duration::from_secs(secs) + Duration::from_millis(300);
    let (sent, received, cpu_ns) = match variant.as_str() {
        "udprx-threaded" => {
            let rx = Receiver::builder("127.0.0.1:0".parse().unwrap())
                .method(method)
                .cpus(vec![rx_cpu])
                .rcvbuf(rcvbuf)
                .duration(Some(deadline))
                .build()
                .unwrap_or_else(|e| usage(&e.to_string()));
            let dst = rx.local_addr();
            let tx = std::thread::spawn(move || send(dst, rate, secs, tx_cpu));
            let out = rx.run(|_| Collector::default()).unwrap_or_else(|e| usage(&e.to_string()));
            let t = &out.threads[0];
            (tx.join().unwrap(), out.handlers[0].datagrams, t.cpu_user_ns + t.cpu_sys_ns)
        }
        "tokio" | "udprx-async" => {
            let (addr_tx, addr_rx) = std::sync::mpsc::channel();
            let udprx = variant == "udprx-async";
            let rx = std::thread::spawn(move || {
                pin(rx_cpu);
                let rt =
                    tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
                rt.block_on(async move {
                    let mut c = Collector::default();
                    let t0 = thread_cpu_ns();
                    let end = tokio::time::Instant::now() + deadline;
                    if udprx {
                        let built = Receiver::builder("127.0.0.1:0".parse().unwrap())
                            .method(method)
                            .rcvbuf(rcvbuf)
                            .build()
                            .unwrap_or_else(|e| usage(&e.to_string()));
                        addr_tx.send(built.local_addr()).unwrap();
                        let mut r = built.into_async().unwrap().remove(0);
                        while let Ok(b) = tokio::time::timeout_at(end, r.recv_batch()).await {
                            for d in b.expect("recv_batch").iter() {
                                c.add(d.payload);
                            }
                        }
                    } else {
                        let s =
                            socket2::Socket::new(socket2::Domain::IPV4, socket2::Type::DGRAM, None)
                                .unwrap();
                        let _ = s.set_recv_buffer_size(8 << 20);
                        s.bind(&"127.0.0.1:0".parse::<SocketAddr>().unwrap().into()).unwrap();
                        s.set_nonblocking(true).unwrap();
                        let sock = tokio::net::UdpSocket::from_std(s.into()).unwrap();
                        addr_tx.send(sock.local_addr().unwrap()).unwrap();
                        let mut buf = [0u8; 2048];
                        while tokio::time::timeout_at(end, sock.readable()).await.is_ok() {
                            loop {
                                match sock.try_recv_from(&mut buf) {
                                    Ok((n, _)) => c.add(&buf[..n]),
                                    Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => break,
                                    Err(e) => panic!("{e}"),
                                }
                            }
                        }
                    }
                    (c.datagrams, thread_cpu_ns() - t0)
                })
            });
            let dst = addr_rx.recv().unwrap();
            let sent = send(dst, rate, secs, tx_cpu);
            let (received, cpu) = rx.join().unwrap();
            (sent, received, cpu)
        }
        other => usage(&format!("unknown variant '{other}'")),
    };
    let per = if received > 0 { cpu_ns as f64 / received as f64 } else { f64::NAN };
    println!("{variant}\tsent={sent}\treceived={received}\tcpu_ns_per_datagram={per:.0}");
}
