//! CPU per datagram of the same small collector on several receivers, paced or at saturation on
//! loopback (issue 24): tokio's `UdpSocket`, tokio + quinn-udp (as quinn uses it:
//! `UdpSocketState::recv` with `BATCH_SIZE` buffers and `RecvMeta`s per call over tokio
//! readiness), udprx's `AsyncReceiver` and udprx's threaded engine. Needs the `tokio` feature;
//! `scripts/collector-cpu.sh` runs the variants interleaved and sums them up.
//!
//! ```text
//! cargo run --profile test-release -p udprx --features tokio --example collector_cpu -- \
//!     VARIANT RATE SECONDS RX_CPU TX_CPU [METHOD] [WINDOW_US] [BURST_US]
//! ```
//! VARIANT: `tokio`, `quinn`, `udprx-async` or `udprx-threaded`, or without source addresses
//! `tokio-recv` (`try_recv`) and `udprx-async-lean` (`source_addresses(false)`: no source address and no
//! per-datagram control message, the drop counter read per idle interval), and
//! `udprx-async-interval` (`drops_per_interval(true)`: source addresses, the drop counter read
//! per idle interval instead of a control message per datagram); RATE datagrams per second
//! (paced in bursts every BURST_US, default 1000; 0: as fast as the sender goes, saturation);
//! RX_CPU / TX_CPU the CPUs
//! the receiver and the sender are pinned to; METHOD the udprx method (default `auto`);
//! WINDOW_US a receive coalescing window for the three async variants (default 0: off): on a
//! wake-up that finds the queue empty, wait that long before reading (udprx:
//! `AsyncReceiver::set_coalesce`; tokio and quinn-udp: the same `tokio::time::sleep` in the
//! application's loop, off the reactor as udprx waits it (`into_std`, then `from_std`), so the
//! comparison stays fair).
//!
//! Prints one line: variant, window, sent, received, receiver CPU ns per datagram (user +
//! system time of the receiving thread, which runs the whole collector: a current-thread
//! runtime for the async variants), datagrams per wake-up (voluntary context switches of that
//! thread: every sleep that ended with a wake-up) and datagrams per receive call that returned
//! data. Loopback only, bounded by SECONDS.
//!
//! The application code of each variant sits between `// app:NAME` and `// end app` (the
//! script counts its lines).

use std::io::IoSliceMut;
use std::net::{SocketAddr, UdpSocket};
use std::time::{Duration, Instant};

use udprx::{Batch, Flow, Handler, Method, Receiver};

fn usage(msg: &str) -> ! {
    eprintln!(
        "collector_cpu: {msg}\nusage: collector_cpu VARIANT RATE SECONDS RX_CPU TX_CPU [METHOD] \
         [WINDOW_US] [BURST_US]"
    );
    std::process::exit(2)
}

fn pin(cpu: usize) {
    if cpu >= libc::CPU_SETSIZE as usize {
        usage("cpu out of range");
    }
    // SAFETY: all-zero is a valid, empty cpu_set_t.
    let mut set: libc::cpu_set_t = unsafe { std::mem::zeroed() };
    // SAFETY: `cpu` is below CPU_SETSIZE (checked above).
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

/// Voluntary context switches of the calling thread so far.
fn thread_wakeups() -> u64 {
    // SAFETY: all-zero is a valid rusage.
    let mut ru: libc::rusage = unsafe { std::mem::zeroed() };
    // SAFETY: `ru` is a valid, writable rusage.
    unsafe { libc::getrusage(libc::RUSAGE_THREAD, &mut ru) };
    ru.ru_nvcsw as u64
}

/// The collector's work per datagram: parse a `name:value|c` counter and sum the values (enough
/// to touch the bytes, cheap enough not to hide the receive path).
#[derive(Default)]
struct Collector {
    datagrams: u64,
    sum: i64,
    /// Receive calls that returned data.
    calls: u64,
    /// Threaded engine: the thread's voluntary context switches, read when it went idle.
    wakeups: Option<u64>,
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

// app:udprx-threaded
impl Handler for Collector {
    fn on_batch(&mut self, batch: &Batch<'_>) -> Flow {
        self.calls += 1;
        for d in batch.iter() {
            self.add(d.payload);
        }
        Flow::Continue
    }
    // end app

    /// The run ends idle (the deadline is 300 ms after the last send): the last idle call
    /// reads the thread's wake-ups after all the traffic.
    fn on_idle(&mut self, _now_ns: u64) -> Flow {
        self.wakeups = Some(thread_wakeups());
        Flow::Continue
    }
}

/// Sender: `rate` per second in bursts every `burst_us` (0: as fast as it goes) for `secs`;
/// returns datagrams sent. Bursts shorter than the sleep granularity are timed by spinning.
fn send(dst: SocketAddr, rate: u64, secs: u64, cpu: usize, burst_us: u64) -> u64 {
    pin(cpu);
    let s = UdpSocket::bind("127.0.0.1:0").unwrap();
    let start = Instant::now();
    let mut sent = 0u64;
    if rate == 0 {
        let end = start + Duration::from_secs(secs);
        while Instant::now() < end {
            for _ in 0..256 {
                if s.send_to(b"requests:1|c", dst).is_ok() {
                    sent += 1;
                }
            }
        }
        return sent;
    }
    let bursts = secs * 1_000_000 / burst_us;
    let per_burst = (rate * burst_us / 1_000_000).max(1);
    for i in 0..bursts {
        let at = start + Duration::from_micros(i * burst_us);
        loop {
            let left = at.saturating_duration_since(Instant::now());
            if left.is_zero() {
                break;
            } else if burst_us >= 1000 {
                std::thread::sleep(left.min(Duration::from_micros(200)));
            } else if left > Duration::from_micros(150) {
                std::thread::sleep(left.min(Duration::from_micros(200)) / 2);
            } else {
                std::hint::spin_loop();
            }
        }
        for _ in 0..per_burst {
            if s.send_to(b"requests:1|c", dst).is_ok() {
                sent += 1;
            }
        }
    }
    sent
}

/// A non-blocking UDP socket on a loopback port with an 8 MiB receive buffer, as tokio wants it.
fn tokio_socket() -> tokio::net::UdpSocket {
    // app:tokio tokio-recv quinn
    let s = socket2::Socket::new(socket2::Domain::IPV4, socket2::Type::DGRAM, None).unwrap();
    let _ = s.set_recv_buffer_size(8 << 20);
    s.bind(&"127.0.0.1:0".parse::<SocketAddr>().unwrap().into()).unwrap();
    s.set_nonblocking(true).unwrap();
    tokio::net::UdpSocket::from_std(s.into()).unwrap()
    // end app
}

/// tokio's `UdpSocket`: wait for readiness, then `try_recv_from` until `WouldBlock`.
async fn run_tokio(
    mut sock: tokio::net::UdpSocket,
    end: tokio::time::Instant,
    window: Option<Duration>,
    c: &mut Collector,
) {
    // app:tokio
    let mut buf = [0u8; 2048];
    while tokio::time::timeout_at(end, sock.readable()).await.is_ok() {
        if let Some(w) = window {
            // Off the reactor during the window, as udprx does (each queued datagram would
            // wake the runtime's thread otherwise).
            let std = sock.into_std().unwrap();
            tokio::time::sleep(w).await;
            sock = tokio::net::UdpSocket::from_std(std).unwrap();
            let _ = sock.readable().await; // registered again: reported ready at once
        }
        loop {
            match sock.try_recv_from(&mut buf) {
                Ok((n, _from)) => {
                    c.calls += 1;
                    c.add(&buf[..n]);
                }
                Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => break,
                Err(e) => panic!("{e}"),
            }
        }
    }
    // end app
}

/// tokio's `UdpSocket` without the source address (`try_recv`): the counterpart of udprx's
/// lean receive.
async fn run_tokio_recv(sock: tokio::net::UdpSocket, end: tokio::time::Instant, c: &mut Collector) {
    // app:tokio-recv
    let mut buf = [0u8; 2048];
    while tokio::time::timeout_at(end, sock.readable()).await.is_ok() {
        loop {
            match sock.try_recv(&mut buf) {
                Ok(n) => {
                    c.calls += 1;
                    c.add(&buf[..n]);
                }
                Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => break,
                Err(e) => panic!("{e}"),
            }
        }
    }
    // end app
}

/// tokio + quinn-udp, the way quinn's endpoint receives: `UdpSocketState::recv` into
/// `BATCH_SIZE` buffers (each room for `gro_segments` datagrams) through `try_io` on tokio's
/// readiness; a buffer holding several GRO segments is split by `stride`.
async fn run_quinn(
    mut sock: tokio::net::UdpSocket,
    end: tokio::time::Instant,
    window: Option<Duration>,
    c: &mut Collector,
) {
    // app:quinn
    use quinn_udp::{BATCH_SIZE, RecvMeta, UdpSocketState};
    use tokio::io::Interest;
    let state = UdpSocketState::new((&sock).into()).unwrap();
    let chunk = 2048 * state.gro_segments();
    let mut storage = vec![0u8; chunk * BATCH_SIZE];
    let mut bufs: Vec<IoSliceMut<'_>> = storage.chunks_mut(chunk).map(IoSliceMut::new).collect();
    let mut metas = [RecvMeta::default(); BATCH_SIZE];
    let mut drained = true;
    while tokio::time::timeout_at(end, sock.readable()).await.is_ok() {
        if drained && let Some(w) = window {
            let std = sock.into_std().unwrap(); // off the reactor during the window
            tokio::time::sleep(w).await;
            sock = tokio::net::UdpSocket::from_std(std).unwrap();
            let _ = sock.readable().await; // registered again: reported ready at once
        }
        drained = false;
        match sock.try_io(Interest::READABLE, || state.recv((&sock).into(), &mut bufs, &mut metas))
        {
            Ok(n) => {
                c.calls += 1;
                for (meta, buf) in metas.iter().zip(bufs.iter()).take(n) {
                    for d in buf[..meta.len].chunks(meta.stride.max(1)) {
                        c.add(d);
                    }
                }
            }
            Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => drained = true,
            Err(e) => panic!("{e}"),
        }
    }
    // end app
}

/// udprx's `AsyncReceiver`: `recv_batch().await`, one receive call of the method per batch.
async fn run_udprx(
    method: Method,
    lean: bool,
    drops_per_interval: bool,
    addr_tx: std::sync::mpsc::Sender<SocketAddr>,
    end: tokio::time::Instant,
    window: Option<Duration>,
    c: &mut Collector,
) {
    // app:udprx-async udprx-async-lean udprx-async-interval
    let rx = Receiver::builder("127.0.0.1:0".parse().unwrap())
        .method(method)
        .source_addresses(!lean)
        .drops_per_interval(drops_per_interval || lean)
        .rcvbuf(Some(8 << 20))
        .build()
        .unwrap_or_else(|e| usage(&e.to_string()));
    addr_tx.send(rx.local_addr()).unwrap();
    let mut r = rx.into_async().unwrap().remove(0);
    r.set_coalesce(window);
    while let Ok(b) = tokio::time::timeout_at(end, r.recv_batch()).await {
        c.calls += 1;
        for d in b.expect("recv_batch").iter() {
            c.add(d.payload);
        }
    }
    // end app
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
    let method: Method =
        a.get(5).map(|m| m.parse().unwrap_or_else(|e: String| usage(&e))).unwrap_or(Method::Auto);
    let window_us = a.get(6).map(|w| num(w, "window")).unwrap_or(0);
    let burst_us = a.get(7).map(|w| num(w, "burst")).unwrap_or(1000);
    if rate > 1_000_000
        || !(1..=60).contains(&secs)
        || window_us > 100_000
        || !(1..=1_000_000).contains(&burst_us)
        || (rate > 0 && rate * burst_us < 1_000_000)
    {
        usage(
            "rate must be 0..=1000000 (0: saturation), seconds 1..=60, window 0..=100000 µs, \
             burst 1..=1000000 µs with at least one datagram per burst",
        );
    }
    let window = (window_us > 0).then(|| Duration::from_micros(window_us));
    let deadline = Duration::from_secs(secs) + Duration::from_millis(300);
    let (sent, c, cpu_ns, wakeups) = match variant.as_str() {
        "udprx-threaded" => {
            if window.is_some() {
                usage("the coalescing window applies to the async variants");
            }
            // app:udprx-threaded
            let rx = Receiver::builder("127.0.0.1:0".parse().unwrap())
                .method(method)
                .cpus(vec![rx_cpu])
                .rcvbuf(Some(8 << 20))
                .duration(Some(deadline))
                .build()
                .unwrap_or_else(|e| usage(&e.to_string()));
            let dst = rx.local_addr();
            let tx = std::thread::spawn(move || send(dst, rate, secs, tx_cpu, burst_us));
            let out = rx.run(|_| Collector::default()).unwrap_or_else(|e| usage(&e.to_string()));
            // end app
            let t = &out.threads[0];
            let c = out.handlers.into_iter().next().expect("one handler");
            let w = c.wakeups;
            (tx.join().unwrap(), c, t.cpu_user_ns + t.cpu_sys_ns, w)
        }
        "tokio"
        | "tokio-recv"
        | "quinn"
        | "udprx-async"
        | "udprx-async-lean"
        | "udprx-async-interval" => {
            let (addr_tx, addr_rx) = std::sync::mpsc::channel();
            let rx = std::thread::spawn(move || {
                pin(rx_cpu);
                let rt =
                    tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
                rt.block_on(async move {
                    let mut c = Collector::default();
                    let (t0, w0) = (thread_cpu_ns(), thread_wakeups());
                    let end = tokio::time::Instant::now() + deadline;
                    match variant.as_str() {
                        "udprx-async" => {
                            run_udprx(method, false, false, addr_tx, end, window, &mut c).await
                        }
                        // The drop counter per idle interval (SO_MEMINFO) instead of a
                        // control message per datagram; source addresses kept.
                        "udprx-async-interval" => {
                            run_udprx(method, false, true, addr_tx, end, window, &mut c).await
                        }
                        // Lean: no source address, no control messages (drops read with
                        // SO_MEMINFO per idle interval).
                        "udprx-async-lean" => {
                            let m = if method == Method::Auto { Method::Recvmmsg } else { method };
                            run_udprx(m, true, false, addr_tx, end, window, &mut c).await
                        }
                        v => {
                            let sock = tokio_socket();
                            addr_tx.send(sock.local_addr().unwrap()).unwrap();
                            match v {
                                "tokio" => run_tokio(sock, end, window, &mut c).await,
                                "tokio-recv" => {
                                    if window.is_some() {
                                        usage("tokio-recv runs without a window");
                                    }
                                    run_tokio_recv(sock, end, &mut c).await
                                }
                                _ => run_quinn(sock, end, window, &mut c).await,
                            }
                        }
                    }
                    (c, thread_cpu_ns() - t0, Some(thread_wakeups() - w0))
                })
            });
            let dst = addr_rx.recv().unwrap();
            let sent = send(dst, rate, secs, tx_cpu, burst_us);
            let (c, cpu, w) = rx.join().unwrap();
            (sent, c, cpu, w)
        }
        other => usage(&format!("unknown variant '{other}'")),
    };
    let per = |x: u64| if x > 0 { c.datagrams as f64 / x as f64 } else { f64::NAN };
    let cpu_per = if c.datagrams > 0 { cpu_ns as f64 / c.datagrams as f64 } else { f64::NAN };
    println!(
        "{}\twindow_us={window_us}\tsent={sent}\treceived={}\tcpu_ns_per_datagram={cpu_per:.0}\t\
         datagrams_per_wakeup={:.2}\tdatagrams_per_call={:.2}\tsum={}",
        a[0],
        c.datagrams,
        wakeups.map(per).unwrap_or(f64::NAN),
        per(c.calls),
        c.sum,
    );
}
