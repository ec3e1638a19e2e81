//! Per-datagram destination address, interface index and ECN bits (IP_PKTINFO / IP_RECVTOS and
//! their IPv6 counterparts): on loopback for both families and every method that reads control
//! messages, off by default, refused where they cannot be read, and on a namespace whose
//! interface holds two addresses (a receiver bound to 0.0.0.0 tells which one was asked).

#[path = "../../../testsupport/rx_common.rs"]
mod common;
#[path = "../../../testsupport/netns.rs"]
mod netns;

use std::net::{IpAddr, SocketAddr, UdpSocket};
use std::os::fd::AsRawFd;
use std::time::Duration;

use common::*;
use udprx::{Batch, Flow, Handler, Method, Receiver};

const K: usize = 40;

/// What one datagram said about its destination.
type Seen = (Option<IpAddr>, Option<u32>, Option<u8>);

/// Keeps every datagram's (dst_ip, ifindex, ecn) and stops the run after `want` of them.
struct Keep {
    seen: Vec<Seen>,
    want: usize,
}

impl Handler for Keep {
    fn on_batch(&mut self, batch: &Batch<'_>) -> Flow {
        for d in batch.iter() {
            self.seen.push((d.dst_ip, d.ifindex, d.ecn));
        }
        if self.seen.len() >= self.want { Flow::Stop } else { Flow::Continue }
    }
}

fn set_ecn(s: &UdpSocket, v6: bool, codepoint: libc::c_int) {
    let (level, name) =
        if v6 { (libc::IPPROTO_IPV6, libc::IPV6_TCLASS) } else { (libc::IPPROTO_IP, libc::IP_TOS) };
    // SAFETY: `codepoint` is a live c_int and its size is passed; the socket is open.
    let rc = unsafe {
        libc::setsockopt(
            s.as_raw_fd(),
            level,
            name,
            (&codepoint as *const libc::c_int).cast(),
            std::mem::size_of::<libc::c_int>() as libc::socklen_t,
        )
    };
    assert_eq!(rc, 0, "set TOS/TCLASS: {}", std::io::Error::last_os_error());
}

fn ifindex(name: &str) -> u32 {
    let c = std::ffi::CString::new(name).unwrap();
    // SAFETY: `c` is a valid NUL-terminated string.
    unsafe { libc::if_nametoindex(c.as_ptr()) }
}

/// Runs a receiver built from `b`, sends `K` datagrams to each of `dsts` (ECT(0) marked), and
/// returns what the handler saw.
fn receive(b: udprx::ReceiverBuilder, method: Method, dsts: &[IpAddr]) -> Option<Vec<Seen>> {
    let rx = build_or_skip(b.duration(Some(Duration::from_secs(10))), method)?;
    let port = rx.local_addr().port();
    let want = K * dsts.len();
    let dsts = dsts.to_vec();
    let runner = std::thread::spawn(move || rx.run(move |_| Keep { seen: Vec::new(), want }));
    for dst in dsts {
        let v6 = dst.is_ipv6();
        let bind: SocketAddr = if v6 { "[::]:0" } else { "0.0.0.0:0" }.parse().unwrap();
        let s = UdpSocket::bind(bind).unwrap();
        set_ecn(&s, v6, 2);
        for i in 0..K {
            s.send_to(&[i as u8; 32], SocketAddr::new(dst, port)).unwrap();
        }
    }
    let out = runner.join().expect("receiver thread").expect("run");
    Some(out.handlers.into_iter().flat_map(|h| h.seen).collect())
}

#[test]
fn loopback_reports_destination_interface_and_ecn() {
    let lo = ifindex("lo");
    assert!(lo > 0);
    for method in [Method::Recvfrom, Method::Recvmmsg, Method::Uring] {
        for dst in ["127.0.0.1", "::1"] {
            let ip: IpAddr = dst.parse().unwrap();
            let b = Receiver::builder(SocketAddr::new(ip, 0))
                .method(method)
                .rcvbuf(Some(RCVBUF))
                .pktinfo(true)
                .ecn(true);
            let Some(seen) = receive(b, method, &[ip]) else { continue };
            assert_eq!(seen.len(), K, "{method} {dst}");
            for s in seen {
                assert_eq!(s, (Some(ip), Some(lo), Some(2)), "{method} {dst}");
            }
        }
    }
}

#[test]
fn off_by_default_and_each_on_its_own() {
    let ip: IpAddr = "127.0.0.1".parse().unwrap();
    let lo = ifindex("lo");
    for method in [Method::Recvfrom, Method::Recvmmsg, Method::Uring] {
        let b = || Receiver::builder(SocketAddr::new(ip, 0)).method(method).rcvbuf(Some(RCVBUF));
        let cases = [(b(), (None, None, None)), (b().ecn(true), (None, None, Some(2)))];
        for (builder, expect) in cases {
            let Some(seen) = receive(builder, method, &[ip]) else { continue };
            assert_eq!(seen.len(), K);
            assert!(seen.iter().all(|s| *s == expect), "{method}: {:?}", seen[0]);
        }
        let Some(seen) = receive(b().pktinfo(true), method, &[ip]) else { continue };
        assert!(seen.iter().all(|s| *s == (Some(ip), Some(lo), None)), "{method}");
    }
}

#[test]
fn methods_without_control_messages_refuse() {
    let addr: SocketAddr = "127.0.0.1:0".parse().unwrap();
    for b in [
        Receiver::builder(addr).method(Method::UringRecv).pktinfo(true),
        Receiver::builder(addr).method(Method::UringRecv).ecn(true),
        Receiver::builder(addr).method(Method::Xdp).pktinfo(true),
        Receiver::builder(addr).method(Method::XdpDrop).ecn(true),
    ] {
        let e = b.build().expect_err("refused");
        assert!(e.is_config(), "{e}");
        let msg = e.to_string().to_lowercase();
        assert!(msg.contains("pktinfo") || msg.contains("ecn") || msg.contains("destination"));
    }
}

#[test]
fn two_addresses_on_one_interface() {
    if !root_or_skip("a network namespace") {
        return;
    }
    let ns = netns::TwoAddrNetns::new("api-pk");
    let a1: IpAddr = "198.18.0.1".parse().unwrap();
    let a5: IpAddr = "198.18.0.5".parse().unwrap();
    let uring_ok =
        Receiver::builder("127.0.0.1:0".parse().unwrap()).method(Method::Uring).build().is_ok();
    if !uring_ok {
        skip_part(Need::Feature, "uring", "io_uring unavailable");
    }
    // The receiver and the senders live on a thread moved into the namespace.
    let results = ns.run(move || {
        let lo = ifindex("lo");
        let mut methods = vec![Method::Recvfrom, Method::Recvmmsg];
        if uring_ok {
            methods.push(Method::Uring);
        }
        let mut results = Vec::new();
        for method in methods {
            let b = Receiver::builder("0.0.0.0:0".parse().unwrap())
                .method(method)
                .rcvbuf(Some(RCVBUF))
                .pktinfo(true);
            let seen = receive(b, method, &[a1, a5]).expect("built");
            results.push((method, lo, seen));
        }
        results
    });
    for (method, lo, seen) in results {
        assert_eq!(seen.len(), 2 * K, "{method}");
        let to = |a| seen.iter().filter(|s| **s == (Some(a), Some(lo), None)).count();
        assert_eq!((to(a1), to(a5)), (K, K), "{method}: {seen:?}");
    }
}
