//! Two pull receivers on one epoll set, in the application's own loop: no engine threads.
//!
//! ```text
//! cargo run --release -p udprx --example epoll -- 127.0.0.1:9000 [::1]:9000 10 [method]
//! ```
//! (two addresses, seconds, method: auto, recvfrom, recvmmsg, uring or uring-recv). Each
//! receiver is non-blocking; the loop waits in `epoll_wait` on their descriptors (the UDP
//! socket, or the io_uring ring's when the kernel refused DEFER_TASKRUN: `PullReceiver`'s
//! `AsFd` picks the right one) and drains a ready receiver until `WouldBlock`. The same
//! descriptors plug into mio or tokio's `AsyncFd`.

use std::net::SocketAddr;
use std::os::fd::AsRawFd;
use std::time::{Duration, Instant};

use udprx::{Method, PullReceiver, Receiver};

fn usage(msg: &str) -> ! {
    eprintln!("epoll: {msg}\nusage: epoll ADDR1 ADDR2 SECONDS [METHOD]");
    std::process::exit(2)
}

fn open(addr: SocketAddr, method: Method) -> PullReceiver {
    let rx = Receiver::builder(addr).method(method).build().unwrap_or_else(|e| {
        eprintln!("epoll: {e}");
        std::process::exit(if e.is_config() { 2 } else { 1 })
    });
    let mut pull = rx.into_pull().unwrap_or_else(|e| usage(&e.to_string())).remove(0);
    pull.set_nonblocking(true);
    pull
}

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    if args.len() < 3 {
        usage("missing arguments");
    }
    let addr = |s: &str| s.parse().unwrap_or_else(|e| usage(&format!("bad address '{s}': {e}")));
    let (a1, a2): (SocketAddr, SocketAddr) = (addr(&args[0]), addr(&args[1]));
    let secs: f64 = args[2].parse().unwrap_or_else(|e| usage(&format!("bad seconds: {e}")));
    let duration = Duration::try_from_secs_f64(secs)
        .ok()
        .filter(|d| !d.is_zero() && d.as_secs() <= 86_400)
        .unwrap_or_else(|| usage(&format!("seconds must be in (0, 86400], got {secs}")));
    let method: Method = args
        .get(3)
        .map(|m| m.parse().unwrap_or_else(|e: String| usage(&e)))
        .unwrap_or(Method::Auto);
    if method.is_xdp() {
        usage(&format!("{method} has no pull receiver (AF_XDP rings, not a UDP socket)"));
    }
    let mut pulls = [open(a1, method), open(a2, method)];
    let mut counts = [0u64; 2];

    // SAFETY: epoll_create1 has no preconditions.
    let ep = unsafe { libc::epoll_create1(libc::EPOLL_CLOEXEC) };
    if ep < 0 {
        usage(&format!("epoll_create1: {}", std::io::Error::last_os_error()));
    }
    for (i, p) in pulls.iter().enumerate() {
        let mut ev = libc::epoll_event { events: libc::EPOLLIN as u32, u64: i as u64 };
        // SAFETY: `ev` is a valid event and the descriptor stays open while registered.
        if unsafe { libc::epoll_ctl(ep, libc::EPOLL_CTL_ADD, p.as_raw_fd(), &mut ev) } != 0 {
            usage(&format!("epoll_ctl: {}", std::io::Error::last_os_error()));
        }
        eprintln!("receiving on {} with {} (fd {})", p.local_addr(), p.method(), p.as_raw_fd());
    }
    let end = Instant::now() + duration;
    let mut events = [libc::epoll_event { events: 0, u64: 0 }; 2];
    while let Some(left) = end.checked_duration_since(Instant::now()) {
        let timeout = left.as_millis().clamp(1, 1000) as i32;
        // SAFETY: `events` is writable for its length.
        let n = unsafe { libc::epoll_wait(ep, events.as_mut_ptr(), 2, timeout) };
        for ev in &events[..n.max(0) as usize] {
            let i = ev.u64 as usize;
            loop {
                match pulls[i].recv_batch() {
                    Ok(batch) => counts[i] += batch.datagram_count() as u64,
                    Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => break,
                    Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
                    Err(e) => {
                        eprintln!("epoll: receive on {}: {e}", pulls[i].local_addr());
                        std::process::exit(1);
                    }
                }
            }
        }
    }
    // SAFETY: `ep` is ours and closed once.
    unsafe { libc::close(ep) };
    for (p, c) in pulls.iter().zip(counts) {
        println!("{}: {c} datagrams, {:?}", p.local_addr(), p.counters());
    }
}
