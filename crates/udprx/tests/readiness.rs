//! The readiness contract of `PullReceiver` (issue 24): a receiver driven purely from
//! readiness — wait until its `as_fd()` is readable, then call `recv_batch` until
//! `WouldBlock` — receives every datagram, for every socket method and io_uring ring mode,
//! including `uring_defer_taskrun(false)` (readiness on the ring's descriptor), whose first
//! multishot request must be armed when the receiver is created: no receive call is made
//! before the first readiness.
//!
//! Self-contained (std, libc and udprx only) so it also runs from the published package.

#[path = "support/skip.rs"]
mod skip;

use std::collections::BTreeSet;
use std::net::{SocketAddr, UdpSocket};
use std::os::fd::AsRawFd;
use std::time::{Duration, Instant};

use udprx::{Error, Method, PullReceiver, Receiver};

const COUNT: u32 = 2_000;

fn pull(method: Method, defer: bool) -> Option<PullReceiver> {
    let built = Receiver::builder("127.0.0.1:0".parse().unwrap())
        .method(method)
        .cpus(vec![])
        .rcvbuf(Some(4 << 20))
        .uring_defer_taskrun(defer)
        .build();
    let rx = match built {
        Ok(rx) => rx,
        Err(Error::UringUnavailable(why)) => {
            skip::skip(skip::Need::Feature, &format!("{method}: {why}"));
            return None;
        }
        Err(e) => panic!("build {method}: {e}"),
    };
    let mut p = rx.into_pull().expect("into_pull").remove(0);
    p.set_nonblocking(true);
    Some(p)
}

/// Waits up to `ms` for `fd` to be readable.
fn readable(fd: i32, ms: i32) -> bool {
    let mut pfd = libc::pollfd { fd, events: libc::POLLIN, revents: 0 };
    // SAFETY: `pfd` is one valid pollfd for the duration of the call.
    let n = unsafe { libc::poll(&mut pfd, 1, ms) };
    n > 0 && pfd.revents & libc::POLLIN != 0
}

fn send(addr: SocketAddr, from: u32, to: u32) {
    let s = UdpSocket::bind("127.0.0.1:0").unwrap();
    for i in from..to {
        s.send_to(&i.to_be_bytes(), addr).unwrap();
        if i % 64 == 63 {
            std::thread::sleep(Duration::from_millis(1));
        }
    }
}

/// Drives `p` from readiness only: sends half the datagrams before the first wait (queued
/// before any receive call) and half from a thread meanwhile; all must arrive exactly once.
fn drive(method: Method, defer: bool) {
    let Some(mut p) = pull(method, defer) else { return };
    let addr = p.local_addr();
    send(addr, 0, COUNT / 2);
    let sender = std::thread::spawn(move || send(addr, COUNT / 2, COUNT));
    let mut seen = BTreeSet::new();
    let end = Instant::now() + Duration::from_secs(20);
    while seen.len() < COUNT as usize && Instant::now() < end {
        if !readable(p.as_raw_fd(), 200) {
            continue;
        }
        loop {
            match p.recv_batch() {
                Ok(batch) => {
                    for d in batch.iter() {
                        let seq = u32::from_be_bytes(d.payload.try_into().expect("4 bytes"));
                        assert!(seen.insert(seq), "{method}: datagram {seq} twice");
                    }
                }
                Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => break,
                Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
                Err(e) => panic!("{method} (defer {defer}): {e}"),
            }
        }
    }
    sender.join().unwrap();
    let drops = p.counters().kernel_drops.unwrap_or(0) as usize;
    assert_eq!(
        seen.len() + drops,
        COUNT as usize,
        "{method} (defer_taskrun {defer}): received {} + kernel drops {drops} of {COUNT} \
         driven from readiness of fd {}",
        seen.len(),
        p.as_raw_fd()
    );
}

#[test]
fn recvfrom_from_readiness() {
    drive(Method::Recvfrom, true);
}

#[test]
fn recvmmsg_from_readiness() {
    drive(Method::Recvmmsg, true);
}

#[test]
fn uring_from_readiness() {
    drive(Method::Uring, true);
}

#[test]
fn uring_without_defer_taskrun_from_readiness() {
    drive(Method::Uring, false);
}

#[test]
fn uring_recv_from_readiness() {
    drive(Method::UringRecv, true);
}

#[test]
fn uring_recv_without_defer_taskrun_from_readiness() {
    drive(Method::UringRecv, false);
}

#[test]
fn auto_from_readiness() {
    drive(Method::Auto, false);
}

/// A `PullReceiver` moves to another thread: without DEFER_TASKRUN (and for the socket
/// methods) it receives there; a SINGLE_ISSUER + DEFER_TASKRUN ring refuses the other thread
/// with an error naming the setting to change, never a hang or a wrong result.
#[test]
fn receivers_move_between_threads() {
    for (method, defer) in
        [(Method::Recvmmsg, true), (Method::Recvfrom, true), (Method::Uring, false)]
    {
        let Some(p) = pull(method, defer) else { continue };
        let addr = p.local_addr();
        send(addr, 0, 10);
        let got = std::thread::spawn(move || {
            let mut p = p;
            let mut n = 0;
            let end = Instant::now() + Duration::from_secs(10);
            while n < 10 && Instant::now() < end {
                readable(p.as_raw_fd(), 100);
                match p.recv_batch() {
                    Ok(b) => n += b.len(),
                    Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => {}
                    Err(e) => panic!("{method} on another thread: {e}"),
                }
            }
            n
        })
        .join()
        .unwrap();
        assert_eq!(got, 10, "{method} (defer_taskrun {defer}) on another thread");
    }
    let Some(p) = pull(Method::Uring, true) else { return };
    let addr = p.local_addr();
    send(addr, 0, 1);
    let deferred = std::thread::spawn(move || {
        let mut p = p;
        readable(p.as_raw_fd(), 1000);
        p.recv_batch().map(|b| b.len())
    })
    .join()
    .unwrap();
    match deferred {
        // The kernel refused DEFER_TASKRUN: a plain ring serves any thread.
        Ok(n) => assert_eq!(n, 1),
        Err(e) => {
            assert!(e.to_string().contains("uring_defer_taskrun(false)"), "{e}");
        }
    }
}
