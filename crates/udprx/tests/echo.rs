//! Replies: the echo example's handler answers K datagrams from several clients, each exactly
//! once, for every socket method and both families; in a namespace whose interface holds two
//! addresses, a server bound to 0.0.0.0 answers from the address it was asked on (PKTINFO on
//! send), and without PKTINFO the kernel's choice shows the test can tell the difference.

#[path = "../examples/echo.rs"]
mod echo;
#[path = "../../../testsupport/netns.rs"]
mod netns;
#[path = "../../../testsupport/skip.rs"]
mod skip;

use std::collections::BTreeSet;
use std::net::{IpAddr, SocketAddr, UdpSocket};
use std::sync::mpsc;
use std::time::Duration;

use udprx::{Method, StopHandle};

const CLIENTS: u8 = 4;
const PER_CLIENT: u32 = 100;

/// The echo server's thread.
type Server = std::thread::JoinHandle<Result<udprx::RunOutput<echo::Echo>, udprx::Error>>;

/// Starts the echo server on a thread; returns its address, stop handle and join handle.
fn start(
    addr: SocketAddr,
    method: Method,
    sockets: usize,
    pktinfo: bool,
) -> Option<(SocketAddr, StopHandle, Server)> {
    let stop = StopHandle::new();
    let (tx, rx) = mpsc::channel();
    let s = stop.clone();
    let h = std::thread::spawn(move || {
        echo::serve(addr, method, sockets, pktinfo, Duration::from_secs(20), s, |a| {
            let _ = tx.send(a);
        })
    });
    match rx.recv_timeout(Duration::from_secs(10)) {
        Ok(a) => Some((a, stop, h)),
        Err(_) => match h.join().expect("server thread") {
            Err(udprx::Error::UringUnavailable(why)) => {
                skip::skip_part(skip::Need::Feature, "uring", &why);
                None
            }
            Err(e) => panic!("echo server: {e}"),
            Ok(_) => panic!("echo server ended without binding"),
        },
    }
}

/// Each client sends PER_CLIENT numbered datagrams and must get each back once, from `server`.
fn round_trip(server: SocketAddr, bind: &str) {
    let clients: Vec<_> = (0..CLIENTS)
        .map(|c| {
            std::thread::spawn({
                let bind: SocketAddr = bind.parse().unwrap();
                move || {
                    let s = UdpSocket::bind(bind).unwrap();
                    s.connect(server).unwrap();
                    s.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
                    let mut got = BTreeSet::new();
                    let mut buf = [0u8; 64];
                    for seq in 0..PER_CLIENT {
                        let mut msg = [c; 40];
                        msg[..4].copy_from_slice(&seq.to_be_bytes());
                        s.send(&msg).unwrap();
                        if seq % 16 == 15 {
                            // Keep the client's receive queue from overflowing.
                            while got.len() < seq as usize + 1 {
                                let n = s.recv(&mut buf).expect("reply in time");
                                assert_eq!(n, 40);
                                assert!(buf[4..n].iter().all(|&b| b == c), "client {c}");
                                let k = u32::from_be_bytes(buf[..4].try_into().unwrap());
                                assert!(got.insert(k), "duplicate reply {k} to client {c}");
                            }
                        }
                    }
                    while got.len() < PER_CLIENT as usize {
                        let n = s.recv(&mut buf).expect("reply in time");
                        let k = u32::from_be_bytes(buf[..4].try_into().unwrap());
                        assert_eq!(n, 40);
                        assert!(got.insert(k), "duplicate reply {k} to client {c}");
                    }
                    // No extra reply shows up.
                    s.set_read_timeout(Some(Duration::from_millis(100))).unwrap();
                    assert!(s.recv(&mut buf).is_err(), "an extra reply for client {c}");
                    got
                }
            })
        })
        .collect();
    for c in clients {
        let got = c.join().expect("client");
        assert_eq!(got, (0..PER_CLIENT).collect::<BTreeSet<_>>());
    }
}

#[test]
fn echo_round_trips_every_method_and_family() {
    for method in [Method::Recvfrom, Method::Recvmmsg, Method::Uring] {
        for (addr, client, sockets) in [
            ("127.0.0.1:0", "127.0.0.1:0", 1),
            ("[::1]:0", "[::1]:0", 1),
            ("127.0.0.1:0", "127.0.0.1:0", 2),
        ] {
            let Some((server, stop, h)) = start(addr.parse().unwrap(), method, sockets, false)
            else {
                break;
            };
            round_trip(server, client);
            stop.stop();
            let out = h.join().expect("server").expect("run");
            let answered: u64 = out.handlers.iter().map(|e| e.answered).sum();
            let errors: u64 = out.handlers.iter().map(|e| e.send_errors).sum();
            assert_eq!(answered, CLIENTS as u64 * PER_CLIENT as u64, "{method} {addr}");
            assert_eq!(errors, 0);
        }
    }
}

#[test]
fn dual_stack_server_answers_v4_clients() {
    // A server on [::] (dual stack) answers an IPv4 client from its IPv4 address.
    let Some((server, stop, h)) = start("[::]:0".parse().unwrap(), Method::Recvmmsg, 1, true)
    else {
        return;
    };
    round_trip(SocketAddr::new("127.0.0.1".parse().unwrap(), server.port()), "127.0.0.1:0");
    stop.stop();
    h.join().expect("server").expect("run");
}

#[test]
fn replies_leave_from_the_address_asked() {
    if !skip::root_or_skip("a network namespace") {
        return;
    }
    let ns = netns::TwoAddrNetns::new("api-echo");
    let sources = ns.run(move || {
        let mut sources = Vec::new();
        for pktinfo in [true, false] {
            for method in [Method::Recvfrom, Method::Recvmmsg, Method::Uring] {
                let Some((server, stop, h)) =
                    start("0.0.0.0:0".parse().unwrap(), method, 1, pktinfo)
                else {
                    continue;
                };
                // The client is 198.18.0.1 and asks 198.18.0.5.
                let c = UdpSocket::bind("198.18.0.1:0").unwrap();
                c.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
                let asked: SocketAddr = SocketAddr::new([198, 18, 0, 5].into(), server.port());
                let mut from = Vec::new();
                let mut buf = [0u8; 16];
                for i in 0..10u8 {
                    c.send_to(&[i; 8], asked).unwrap();
                    let (n, src) = c.recv_from(&mut buf).expect("reply");
                    assert_eq!(&buf[..n], &[i; 8]);
                    from.push(src.ip());
                }
                stop.stop();
                h.join().expect("server").expect("run");
                sources.push((pktinfo, method, from));
            }
        }
        sources
    });
    let asked: IpAddr = "198.18.0.5".parse().unwrap();
    for (pktinfo, method, from) in sources {
        if pktinfo {
            assert!(from.iter().all(|a| *a == asked), "{method}: {from:?}");
        } else {
            // The kernel picks the source by route: the client's own address here.
            assert!(from.iter().all(|a| *a != asked), "{method} without pktinfo: {from:?}");
        }
    }
}
