//! The async receiver (feature `tokio`, issue 24): `Send` (compile time), one task per
//! `SO_REUSEPORT` socket on a multi-thread runtime receiving every datagram for every method,
//! cancel-safety (futures dropped mid-flood: received + kernel drops = sent), and the `auto`
//! run-time fallback re-registering its readiness descriptor.
//!
//! Self-contained (std, libc, tokio and udprx only) so it also runs from the published package.

#[path = "support/skip.rs"]
mod skip;

use std::collections::BTreeSet;
use std::net::{SocketAddr, UdpSocket};
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use udprx::{AsyncReceiver, Error, Method, Receiver};

fn build(method: Method, sockets: usize, einval: bool) -> Option<Receiver> {
    let b = Receiver::builder("127.0.0.1:0".parse().unwrap())
        .method(method)
        .sockets(sockets)
        .cpus(vec![])
        .rcvbuf(Some(8 << 20))
        .inject_multishot_einval(einval);
    match b.build() {
        Ok(rx) => Some(rx),
        Err(Error::UringUnavailable(why)) => {
            skip::skip(skip::Need::Feature, &format!("{method}: {why}"));
            None
        }
        Err(e) => panic!("build {method}: {e}"),
    }
}

/// Sends `count` sequence-numbered datagrams from `sources` sockets (so the reuseport hash
/// spreads them), pausing 1 ms every 64.
fn send(addr: SocketAddr, count: u32, sources: u32) {
    let socks: Vec<UdpSocket> =
        (0..sources).map(|_| UdpSocket::bind("127.0.0.1:0").unwrap()).collect();
    for i in 0..count {
        socks[(i % sources) as usize].send_to(&i.to_be_bytes(), addr).unwrap();
        if i % 64 == 63 {
            std::thread::sleep(Duration::from_millis(1));
        }
    }
}

#[test]
fn async_receiver_and_its_future_are_send() {
    fn send_type<T: Send>() {}
    fn send_value<T: Send>(_: &T) {}
    send_type::<AsyncReceiver>();
    let rt = tokio::runtime::Builder::new_current_thread().enable_io().build().unwrap();
    rt.block_on(async {
        let rx = Receiver::builder("127.0.0.1:0".parse().unwrap()).build().unwrap();
        let mut r = rx.into_async().unwrap().remove(0);
        let fut = r.recv_batch();
        send_value(&fut);
    });
}

/// Collects sequence numbers until all tasks together (`total`) have `count`, or `end`.
async fn collect(
    mut r: AsyncReceiver,
    count: usize,
    total: Arc<AtomicUsize>,
    end: Instant,
) -> (Vec<u32>, u32) {
    let mut seen = Vec::new();
    while total.load(Ordering::Relaxed) < count && Instant::now() < end {
        tokio::select! {
            b = r.recv_batch() => {
                let b = b.expect("recv_batch");
                for d in b.iter() {
                    seen.push(u32::from_be_bytes(d.payload.try_into().unwrap()));
                }
                total.fetch_add(b.len(), Ordering::Relaxed);
            }
            _ = tokio::time::sleep(Duration::from_millis(100)) => {}
        }
    }
    (seen, r.counters().kernel_drops.unwrap_or(0))
}

fn tasks_per_socket(method: Method) {
    const COUNT: u32 = 4_000;
    let Some(rx) = build(method, 2, false) else { return };
    let addr = rx.local_addr();
    let rt = tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build();
    let rt = rt.unwrap();
    let (seen, drops) = rt.block_on(async move {
        let end = Instant::now() + Duration::from_secs(20);
        let total = Arc::new(AtomicUsize::new(0));
        let tasks: Vec<_> = rx
            .into_async()
            .expect("into_async")
            .into_iter()
            .map(|r| tokio::spawn(collect(r, COUNT as usize, total.clone(), end)))
            .collect();
        let sender = std::thread::spawn(move || send(addr, COUNT, 8));
        let mut seen = BTreeSet::new();
        let mut drops = 0;
        while !sender.is_finished() {
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        sender.join().unwrap();
        for t in tasks {
            let (s, d) = tokio::time::timeout(Duration::from_secs(25), t).await.unwrap().unwrap();
            for x in s {
                assert!(seen.insert(x), "{method}: datagram {x} twice");
            }
            drops += d;
        }
        (seen, drops)
    });
    assert_eq!(seen.len() + drops as usize, COUNT as usize, "{method}: received + drops = sent");
}

#[test]
fn recvfrom_tasks() {
    tasks_per_socket(Method::Recvfrom);
}

#[test]
fn recvmmsg_tasks() {
    tasks_per_socket(Method::Recvmmsg);
}

#[test]
fn uring_tasks() {
    tasks_per_socket(Method::Uring);
}

#[test]
fn uring_recv_tasks() {
    tasks_per_socket(Method::UringRecv);
}

/// Futures dropped mid-flood (a 20 µs timer wins the `select!` again and again) lose nothing:
/// received + kernel drops = sent, and the timer did win (the test cancelled for real).
#[test]
fn dropped_futures_lose_no_datagram() {
    const COUNT: u32 = 20_000;
    for method in [Method::Recvmmsg, Method::Uring, Method::Recvfrom] {
        let Some(rx) = build(method, 1, false) else { continue };
        let addr = rx.local_addr();
        let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
        let (received, drops, cancelled) = rt.block_on(async move {
            let mut r = rx.into_async().unwrap().remove(0);
            let sender = std::thread::spawn(move || send(addr, COUNT, 1));
            let (mut received, mut cancelled) = (0u64, 0u64);
            let mut quiet_since = Instant::now();
            // Until the sender is done and nothing came for 300 ms (bounded: 30 s).
            let end = Instant::now() + Duration::from_secs(30);
            while Instant::now() < end
                && (!sender.is_finished() || quiet_since.elapsed() < Duration::from_millis(300))
            {
                tokio::select! {
                    b = r.recv_batch() => {
                        received += b.expect("recv_batch").len() as u64;
                        quiet_since = Instant::now();
                    }
                    _ = tokio::time::sleep(Duration::from_micros(20)) => cancelled += 1,
                }
            }
            sender.join().unwrap();
            (received, r.counters().kernel_drops, cancelled)
        });
        let drops = drops.unwrap_or(0) as u64;
        assert!(cancelled > 0, "{method}: no future was dropped; the test did not cancel");
        assert_eq!(received + drops, COUNT as u64, "{method}: received {received} + drops {drops}");
    }
}

/// `auto` whose multishot request is refused at run time (injected EINVAL) moves to recvmmsg;
/// the async receiver moves its readiness registration with it and receives everything.
#[test]
fn auto_fallback_reregisters() {
    let Some(rx) = build(Method::Auto, 1, true) else { return };
    if rx.setup().method != Method::Uring {
        skip::skip_part(skip::Need::Feature, "uring", "auto chose recvmmsg at build");
        return;
    }
    let addr = rx.local_addr();
    let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
    let (mut seen, method, fallback) = rt.block_on(async move {
        let r = rx.into_async().unwrap().remove(0);
        std::thread::spawn(move || send(addr, 500, 1)).join().unwrap();
        let end = Instant::now() + Duration::from_secs(10);
        // A second batch after the fallback, driven from the socket's readiness.
        let mut r = r;
        let mut seen = Vec::new();
        while seen.len() < 500 && Instant::now() < end {
            tokio::select! {
                b = r.recv_batch() => {
                    for d in b.expect("recv_batch").iter() {
                        seen.push(u32::from_be_bytes(d.payload.try_into().unwrap()));
                    }
                }
                _ = tokio::time::sleep(Duration::from_millis(100)) => {}
            }
        }
        (seen, r.method(), r.fallback().map(str::to_string))
    });
    assert_eq!(method, Method::Recvmmsg);
    assert!(fallback.is_some_and(|f| f.contains("EINVAL")));
    seen.sort_unstable();
    assert_eq!(seen, (0..500).collect::<Vec<u32>>());
}

/// An `AsyncReceiver` is non-blocking whatever its pull receiver was set to: one made from a
/// pull receiver switched to blocking still never waits inside `recv_batch` (a blocking call
/// would stall the runtime's thread for the idle interval).
#[test]
fn async_receiver_is_non_blocking_regardless() {
    let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
    rt.block_on(async {
        let rx = Receiver::builder("127.0.0.1:0".parse().unwrap())
            .method(Method::Recvmmsg)
            .cpus(vec![])
            .idle_interval(Duration::from_secs(20))
            .build()
            .unwrap();
        let mut pull = rx.into_pull().unwrap().remove(0);
        pull.set_nonblocking(false);
        let r = AsyncReceiver::new(pull).unwrap();
        assert!(r.get_ref().is_nonblocking());
    });
}

/// With a receive coalescing window every datagram is still received exactly once, and
/// dropping futures mid-window (a `select!` against a short timer) loses nothing; a zero
/// window is "off".
#[test]
fn coalescing_window_receives_everything_once() {
    let Some(rx) = build(Method::Recvmmsg, 1, false) else { return };
    let addr = rx.local_addr();
    let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
    let (seen, cancelled) = rt.block_on(async move {
        let mut r = rx.into_async().unwrap().remove(0);
        r.set_coalesce(Some(Duration::ZERO));
        assert_eq!(r.coalesce(), None, "a zero window is off");
        r.set_coalesce(Some(Duration::from_millis(2)));
        assert_eq!(r.coalesce(), Some(Duration::from_millis(2)));
        let sender = std::thread::spawn(move || send(addr, 2_000, 2));
        let end = Instant::now() + Duration::from_secs(10);
        let (mut seen, mut cancelled) = (Vec::new(), 0u32);
        while seen.len() < 2_000 && Instant::now() < end {
            tokio::select! {
                b = r.recv_batch() => {
                    for d in b.expect("recv_batch").iter() {
                        seen.push(u32::from_be_bytes(d.payload.try_into().unwrap()));
                    }
                }
                _ = tokio::time::sleep(Duration::from_micros(500)) => cancelled += 1,
            }
        }
        sender.join().unwrap();
        assert_eq!(r.counters().kernel_drops.unwrap_or(0), 0);
        (seen, cancelled)
    });
    assert!(cancelled > 0, "no future was dropped mid-window");
    let unique: BTreeSet<u32> = seen.iter().copied().collect();
    assert_eq!(seen.len(), 2_000, "count (duplicates or losses)");
    assert_eq!(unique, (0..2_000).collect::<BTreeSet<u32>>());
}
