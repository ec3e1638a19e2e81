//! Service-safe defaults (issue 24): default pinning stays within the CPUs the process may use;
//! a uring receiver releases its port as soon as it is dropped; `kernel_drops` is `Some(0)`
//! when the drop counter is read and zero, `None` only when nothing reads it; a refused port
//! names the real cause.
//!
//! Self-contained (std, libc and udprx only) so it also runs from the published package.

#[path = "support/skip.rs"]
mod skip;

use std::net::{SocketAddr, UdpSocket};
use std::time::Duration;

use udprx::{Batch, Error, Flow, Method, Receiver, ReceiverBuilder};

fn set_affinity(cpus: &[usize]) -> bool {
    // SAFETY: all-zero is a valid, empty cpu_set_t; CPU_SET stays within CPU_SETSIZE below.
    let mut set: libc::cpu_set_t = unsafe { std::mem::zeroed() };
    for &c in cpus {
        // SAFETY: `c` is a CPU number below CPU_SETSIZE.
        unsafe { libc::CPU_SET(c, &mut set) };
    }
    // SAFETY: `set` is a valid cpu_set_t of the size passed; pid 0 is this thread.
    unsafe { libc::sched_setaffinity(0, std::mem::size_of::<libc::cpu_set_t>(), &set) == 0 }
}

/// Under a one-CPU mask (as `taskset -c N` gives), every receive thread is pinned to that CPU,
/// never to one the process may not use.
/// A loopback receiver of `method` (no pinning) from `configure`, or `None` with a counted
/// skip where this kernel has no io_uring.
fn built(
    method: Method,
    configure: impl FnOnce(ReceiverBuilder) -> ReceiverBuilder,
) -> Option<Receiver> {
    let b = Receiver::builder("127.0.0.1:0".parse().unwrap()).method(method).cpus(vec![]);
    match configure(b).build() {
        Ok(rx) => Some(rx),
        Err(Error::UringUnavailable(why)) => {
            skip::skip_part(skip::Need::Feature, method.as_str(), &why);
            None
        }
        Err(e) => panic!("{method}: {e}"),
    }
}

#[test]
fn default_pinning_stays_within_the_allowed_cpus() {
    let ncpu = std::thread::available_parallelism().map(|n| n.get()).unwrap_or(1);
    if ncpu < 2 {
        skip::skip(skip::Need::Feature, "needs two CPUs to restrict the mask");
        return;
    }
    let last = ncpu - 1;
    // A thread of its own, so the mask does not leak into other tests.
    let cpus = std::thread::spawn(move || {
        assert!(set_affinity(&[last]), "sched_setaffinity");
        let rx = Receiver::builder("127.0.0.1:0".parse().unwrap())
            .method(Method::Recvmmsg)
            .sockets(2)
            .duration(Some(Duration::from_millis(50)))
            .build()
            .expect("build");
        let planned = rx.setup().cpus.clone();
        let out = rx.run(|_| |_: &Batch<'_>| Flow::Continue).expect("run: pinning succeeds");
        (planned, out.threads.iter().map(|t| t.cpu).collect::<Vec<_>>())
    })
    .join()
    .unwrap();
    assert_eq!(cpus.0, vec![Some(last); 2], "planned CPUs under a mask of CPU {last}");
    assert_eq!(cpus.1, vec![Some(last); 2], "threads ran on CPU {last}");
}

/// After a uring run returns, the port is free at once (12 runs: an immediate bind without
/// SO_REUSEPORT succeeds every time).
#[test]
fn uring_run_releases_the_port_when_it_ends() {
    for run in 0..12 {
        let built = Receiver::builder("127.0.0.1:0".parse().unwrap())
            .method(Method::Uring)
            .cpus(vec![])
            .duration(Some(Duration::from_millis(20)))
            .build();
        let rx = match built {
            Ok(rx) => rx,
            Err(Error::UringUnavailable(why)) => {
                skip::skip(skip::Need::Feature, &why);
                return;
            }
            Err(e) => panic!("{e}"),
        };
        let addr = rx.local_addr();
        UdpSocket::bind("127.0.0.1:0").unwrap().send_to(b"x", addr).unwrap();
        rx.run(|_| |_: &Batch<'_>| Flow::Continue).expect("run");
        if let Err(e) = UdpSocket::bind(addr) {
            panic!("run {run}: {addr} still bound right after the uring run ended: {e}");
        }
    }
}

/// Sends `n` datagrams and receives them with a pull receiver; returns its counters' drops.
fn drops_after(method: Method, per_interval: bool) -> Option<Option<u32>> {
    let rx = built(method, |b| {
        b.drops_per_interval(per_interval).idle_interval(Duration::from_millis(20))
    })?;
    let addr: SocketAddr = rx.local_addr();
    let mut p = rx.into_pull().unwrap().remove(0);
    p.set_nonblocking(false);
    let s = UdpSocket::bind("127.0.0.1:0").unwrap();
    for _ in 0..50 {
        s.send_to(b"0123456789", addr).unwrap();
    }
    let mut got = 0;
    for _ in 0..200 {
        match p.recv_batch() {
            Ok(b) => got += b.len(),
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
            Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => {
                if got == 50 {
                    break;
                }
            }
            Err(e) => panic!("{method}: {e}"),
        }
    }
    assert_eq!(got, 50, "{method}");
    Some(p.counters().kernel_drops)
}

#[test]
fn kernel_drops_is_some_zero_when_read_and_zero() {
    for (method, per_interval, read) in [
        (Method::Recvmmsg, false, true),
        (Method::Uring, false, true),
        (Method::Recvmmsg, true, true),
        (Method::UringRecv, false, false),
        (Method::Recvfrom, false, false),
    ] {
        let Some(drops) = drops_after(method, per_interval) else { continue };
        let expected = if read { Some(0) } else { None };
        assert_eq!(drops, expected, "{method} (drops per interval {per_interval})");
    }
}

#[test]
fn port_in_use_names_the_cause() {
    let holder = UdpSocket::bind("127.0.0.1:0").unwrap();
    let addr = holder.local_addr().unwrap();
    let err = Receiver::builder(addr).sockets(2).build().unwrap_err();
    let text = err.to_string();
    assert!(matches!(err, Error::PortInUse { .. }), "{text}");
    assert!(text.contains("already bound by another socket"), "{text}");
    assert!(text.contains("share_port(true)") && text.contains("sharing the datagrams"), "{text}");
}

/// A pull receiver is non-blocking by default, so an event loop is never stalled by a forgotten
/// setting (issue 24: a blocking default stalled a tokio tick for 4.36 s): with nothing sent,
/// `recv_batch` returns `WouldBlock` without waiting the (here 20 s) idle interval, for every
/// socket method; `set_nonblocking(false)` is the opt-in to waiting.
#[test]
fn pull_receivers_are_non_blocking_by_default() {
    let idle = Duration::from_secs(20);
    for method in
        [Method::Recvfrom, Method::Recvmmsg, Method::Uring, Method::UringRecv, Method::Auto]
    {
        let Some(rx) = built(method, |b| b.idle_interval(idle)) else { continue };
        let mut p = rx.into_pull().unwrap().remove(0);
        assert!(p.is_nonblocking(), "{method}: the default");
        let t0 = std::time::Instant::now();
        for _ in 0..3 {
            let e = p.recv_batch().expect_err("nothing was sent");
            assert_eq!(e.kind(), std::io::ErrorKind::WouldBlock, "{method}");
        }
        // Three blocking calls would have taken at least 20 s each.
        assert!(t0.elapsed() < idle / 4, "{method}: took {:?}", t0.elapsed());
        p.set_nonblocking(false);
        assert!(!p.is_nonblocking(), "{method}: the opt-in");
    }
}

/// `drops_per_interval(true)`: the socket does not set SO_RXQ_OVFL (no control message per
/// datagram), every datagram still carries its source address, and the drop counter is read
/// (SO_MEMINFO) and zero; refused with the XDP paths.
#[test]
fn drops_per_interval_keeps_sources_without_the_per_datagram_counter() {
    for method in [Method::Recvmmsg, Method::Recvfrom, Method::Uring] {
        let Some(rx) =
            built(method, |b| b.drops_per_interval(true).idle_interval(Duration::from_millis(20)))
        else {
            continue;
        };
        assert!(rx.setup().drops_source.contains("SO_MEMINFO"), "{method}");
        let addr: SocketAddr = rx.local_addr();
        let mut p = rx.into_pull().unwrap().remove(0);
        let mut on: libc::c_int = -1;
        let mut len = std::mem::size_of::<libc::c_int>() as libc::socklen_t;
        // SAFETY: `on` and `len` are valid for writing; the socket is open.
        let rc = unsafe {
            use std::os::fd::AsRawFd;
            libc::getsockopt(
                p.socket().as_raw_fd(),
                libc::SOL_SOCKET,
                libc::SO_RXQ_OVFL,
                (&mut on as *mut libc::c_int).cast(),
                &mut len,
            )
        };
        assert_eq!((rc, on), (0, 0), "{method}: SO_RXQ_OVFL must be off");
        let s = UdpSocket::bind("127.0.0.1:0").unwrap();
        for _ in 0..20 {
            s.send_to(b"x", addr).unwrap();
        }
        p.set_nonblocking(false);
        let mut got = 0;
        for _ in 0..200 {
            match p.recv_batch() {
                Ok(b) => {
                    for d in b.iter() {
                        assert_eq!(d.source, s.local_addr().unwrap(), "{method}: the source");
                        got += 1;
                    }
                }
                Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => {
                    if got == 20 {
                        break;
                    }
                }
                Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
                Err(e) => panic!("{method}: {e}"),
            }
        }
        assert_eq!(got, 20, "{method}");
        assert_eq!(p.counters().kernel_drops, Some(0), "{method}: read (SO_MEMINFO) and zero");
    }
    let e = Receiver::builder("127.0.0.1:0".parse().unwrap())
        .method(Method::XdpDrop)
        .drops_per_interval(true)
        .build()
        .expect_err("refused");
    assert!(e.to_string().contains("drops_per_interval"), "{e}");
}
