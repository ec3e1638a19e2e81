//! The XDP paths over a veth pair between two network namespaces this test creates
//! (`xdpt-<pid>-<tag>-a` sends from 198.18.0.1 / 2001:2::1, `-b` receives on 198.18.0.2 /
//! 2001:2::2): every datagram exactly once through `xdp`, ping and other ports still reach the
//! stack, `xdp-drop` counts exactly, malformed datagrams are counted, and no program stays
//! attached after a normal end, Ctrl-C, SIGKILL, an error or a panic. Needs root; skips
//! visibly otherwise.

#[path = "../../../testsupport/rx_common.rs"]
mod common;

use std::io::{BufRead, BufReader, Read};
use std::net::{IpAddr, SocketAddr, UdpSocket};
use std::os::fd::AsRawFd;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use common::{Need, all_seen, expected_set, root_or_skip, skip, stamp};
use udprx::{Flow, Method, Receiver};

/// Two namespaces joined by a veth pair (`xdpt-tx` in `a`, `xdpt-rx` in `b`), removed on drop.
struct Pair {
    a: String,
    b: String,
}

fn ip(args: &[&str]) -> Result<String, String> {
    let out = Command::new("ip").args(args).output().map_err(|e| format!("ip: {e}"))?;
    if !out.status.success() {
        return Err(format!(
            "ip {}: {}",
            args.join(" "),
            String::from_utf8_lossy(&out.stderr).trim()
        ));
    }
    Ok(String::from_utf8_lossy(&out.stdout).into_owned())
}

impl Pair {
    fn create(tag: &str) -> Result<Pair, String> {
        let id = std::process::id();
        let p = Pair { a: format!("xdpt-{id}-{tag}-a"), b: format!("xdpt-{id}-{tag}-b") };
        ip(&["netns", "add", &p.a])?;
        ip(&["netns", "add", &p.b])?;
        let (a, b) = (p.a.as_str(), p.b.as_str());
        let steps: Vec<Vec<&str>> = vec![
            vec![
                "link", "add", "name", "xdpt-tx", "netns", a, "type", "veth", "peer", "name",
                "xdpt-rx", "netns", b,
            ],
            vec!["-n", a, "addr", "add", "198.18.0.1/24", "dev", "xdpt-tx"],
            vec!["-n", b, "addr", "add", "198.18.0.2/24", "dev", "xdpt-rx"],
            vec!["-n", a, "addr", "add", "2001:2::1/64", "dev", "xdpt-tx", "nodad"],
            vec!["-n", b, "addr", "add", "2001:2::2/64", "dev", "xdpt-rx", "nodad"],
            vec!["-n", a, "link", "set", "xdpt-tx", "up"],
            vec!["-n", b, "link", "set", "xdpt-rx", "up"],
            vec!["-n", a, "link", "set", "lo", "up"],
            vec!["-n", b, "link", "set", "lo", "up"],
        ];
        for s in steps {
            ip(&s)?;
        }
        Ok(p)
    }

    /// Whether `xdpt-rx` has an XDP program attached, per `ip link show`.
    fn rx_has_xdp(&self) -> bool {
        let out = ip(&["-n", &self.b, "link", "show", "xdpt-rx"]).expect("ip link show");
        out.contains("prog/xdp")
    }

    fn rx_mac(&self) -> [u8; 6] {
        let out = ip(&["-n", &self.b, "link", "show", "xdpt-rx"]).expect("ip link show");
        let hex =
            out.split("link/ether ").nth(1).expect("a MAC").split_whitespace().next().unwrap();
        let mut mac = [0u8; 6];
        for (m, h) in mac.iter_mut().zip(hex.split(':')) {
            *m = u8::from_str_radix(h, 16).unwrap();
        }
        mac
    }
}

impl Drop for Pair {
    fn drop(&mut self) {
        for ns in [&self.a, &self.b] {
            let _ = Command::new("ip").args(["netns", "del", ns]).output();
        }
    }
}

/// Moves the calling thread into namespace `ns` (threads it spawns afterwards follow).
fn enter(ns: &str) {
    let f = std::fs::File::open(format!("/run/netns/{ns}")).expect("open netns");
    // SAFETY: a valid namespace fd; only the calling thread changes namespace.
    let rc = unsafe { libc::setns(f.as_raw_fd(), libc::CLONE_NEWNET) };
    assert_eq!(rc, 0, "setns {ns}: {}", std::io::Error::last_os_error());
}

/// Runs `f` on a fresh thread inside namespace `ns`.
fn in_ns<T: Send + 'static>(
    ns: &str,
    f: impl FnOnce() -> T + Send + 'static,
) -> std::thread::JoinHandle<T> {
    let ns = ns.to_string();
    std::thread::spawn(move || {
        enter(&ns);
        f()
    })
}

fn setup(tag: &str) -> Option<Pair> {
    if !root_or_skip("creating network namespaces and attaching XDP programs") {
        return None;
    }
    match Pair::create(tag) {
        Ok(p) => Some(p),
        Err(e) => {
            skip(Need::Root, &format!("cannot create the veth namespaces: {e}"));
            None
        }
    }
}

/// Sends `per_flow` stamped datagrams for each of `flows` flows (one socket each), paced.
fn send_stamped(dst: SocketAddr, flows: u8, per_flow: u64) {
    let bind: SocketAddr =
        if dst.is_ipv4() { "198.18.0.1:0" } else { "[2001:2::1]:0" }.parse().unwrap();
    let socks: Vec<UdpSocket> = (0..flows).map(|_| UdpSocket::bind(bind).unwrap()).collect();
    // Resolve the neighbour first: datagrams queued behind an unresolved neighbour may be
    // dropped, and this test counts every one.
    socks[0].send_to(b"warm-up", SocketAddr::new(dst.ip(), dst.port() + 100)).expect("warm-up");
    std::thread::sleep(Duration::from_millis(200));
    let mut buf = [0u8; 18];
    for seq in 0..per_flow {
        for (f, s) in socks.iter().enumerate() {
            stamp(&mut buf, f as u8, seq);
            s.send_to(&buf, dst).expect("send");
        }
        if seq % 16 == 15 {
            std::thread::sleep(Duration::from_millis(1));
        }
    }
}

/// One ICMP echo to `dst` from namespace-local raw socket; true when answered within 2 s.
fn ping(dst: IpAddr) -> bool {
    use socket2::{Domain, Protocol, Socket, Type};
    let (domain, proto, ty) = match dst {
        IpAddr::V4(_) => (Domain::IPV4, Protocol::ICMPV4, 8u8),
        IpAddr::V6(_) => (Domain::IPV6, Protocol::ICMPV6, 128u8),
    };
    let s = Socket::new(domain, Type::RAW, Some(proto)).expect("raw socket");
    s.set_read_timeout(Some(Duration::from_millis(200))).unwrap();
    let mut pkt = [ty, 0, 0, 0, 0x12, 0x34, 0, 1, b'x', b'd', b'p', b't'];
    if dst.is_ipv4() {
        let mut sum = 0u32;
        for c in pkt.chunks(2) {
            sum += u16::from_be_bytes([c[0], c[1]]) as u32;
        }
        while sum > 0xffff {
            sum = (sum & 0xffff) + (sum >> 16);
        }
        pkt[2..4].copy_from_slice(&(!(sum as u16)).to_be_bytes());
    } // ICMPv6 checksums are filled in by the kernel on raw sockets.
    s.send_to(&pkt, &SocketAddr::new(dst, 0).into()).expect("send echo");
    let t0 = Instant::now();
    let mut buf = [std::mem::MaybeUninit::<u8>::uninit(); 1500];
    while t0.elapsed() < Duration::from_secs(2) {
        if let Ok(n) = s.recv(&mut buf) {
            // SAFETY: recv initialised the first n bytes.
            let got: Vec<u8> = buf[..n].iter().map(|b| unsafe { b.assume_init() }).collect();
            let icmp = if dst.is_ipv4() {
                got.get(((got[0] & 0x0f) as usize) * 4..)
            } else {
                Some(&got[..])
            };
            let reply = if dst.is_ipv4() { 0 } else { 129 };
            if icmp.is_some_and(|i| i.len() >= 8 && i[0] == reply && i[4..6] == [0x12, 0x34]) {
                return true;
            }
        }
    }
    false
}

/// Receives through `method` in namespace b on `bind` while `during` runs in namespace a;
/// returns the collectors' output.
fn run_xdp(
    pair: &Pair,
    bind: SocketAddr,
    expected: usize,
    during: impl FnOnce(SocketAddr) + Send + 'static,
) -> udprx::RunOutput<common::Collector> {
    let a = pair.a.clone();
    in_ns(&pair.b, move || {
        let rx = Receiver::builder(bind)
            .method(Method::Xdp)
            .cpus(vec![])
            .build()
            .unwrap_or_else(|e| panic!("xdp build: {e}"));
        common::run_collect(rx, expected, move |addr| {
            in_ns(&a, move || during(addr)).join().expect("sender");
        })
    })
    .join()
    .expect("receiver thread")
}

#[test]
fn xdp_receives_every_datagram_exactly_once_v4_and_v6() {
    let Some(pair) = setup("once") else { return };
    const FLOWS: u8 = 4;
    const PER_FLOW: u64 = 500;
    for bind in ["198.18.0.2:9000", "[2001:2::2]:9000"] {
        let bind: SocketAddr = bind.parse().unwrap();
        let out = run_xdp(&pair, bind, FLOWS as usize * PER_FLOW as usize, |addr| {
            send_stamped(addr, FLOWS, PER_FLOW)
        });
        assert_eq!(all_seen(&out), expected_set(0..FLOWS, PER_FLOW), "{bind}: every datagram once");
        assert_eq!(out.handlers.iter().map(|h| h.foreign + h.truncated).sum::<u64>(), 0);
        // Each flow is its own source port, all from the sender's address.
        let sources: std::collections::HashSet<_> =
            out.handlers.iter().flat_map(|h| h.sources.keys().copied()).collect();
        assert_eq!(sources.len(), FLOWS as usize);
        assert!(sources.iter().all(|s| s.ip() != bind.ip()));
        assert!(!pair.rx_has_xdp(), "{bind}: program left attached after a normal end");
    }
}

#[test]
fn ping_and_other_ports_reach_the_stack_while_xdp_runs() {
    let Some(pair) = setup("pass") else { return };
    for (bind, other) in
        [("198.18.0.2:9000", "198.18.0.2:9001"), ("[2001:2::2]:9000", "[2001:2::2]:9001")]
    {
        let bind: SocketAddr = bind.parse().unwrap();
        let other: SocketAddr = other.parse().unwrap();
        // A plain socket in b on another port.
        let listener = in_ns(&pair.b, move || UdpSocket::bind(other).unwrap()).join().unwrap();
        listener.set_read_timeout(Some(Duration::from_secs(3))).unwrap();
        let out = run_xdp(&pair, bind, 100, move |addr| {
            assert!(ping(addr.ip()), "ping {} while xdp runs", addr.ip());
            let s = UdpSocket::bind(SocketAddr::new(
                if addr.is_ipv4() {
                    "198.18.0.1".parse().unwrap()
                } else {
                    "2001:2::1".parse().unwrap()
                },
                0,
            ))
            .unwrap();
            s.send_to(b"to the stack", other).unwrap();
            send_stamped(addr, 1, 100);
        });
        let mut buf = [0u8; 64];
        let (n, _) = listener.recv_from(&mut buf).expect("the other port got its datagram");
        assert_eq!(&buf[..n], b"to the stack");
        assert_eq!(all_seen(&out), expected_set(0..1, 100));
    }
}

#[test]
fn xdp_drop_counts_exactly_k() {
    let Some(pair) = setup("drop") else { return };
    const K: u64 = 3000;
    let report = cli_run(&pair, &["--method", "xdp-drop", "--duration", "3s"], |addr| {
        send_stamped(addr, 3, K / 3);
    });
    let totals = &report["totals"];
    assert_eq!(totals["datagrams"], K, "{totals}");
    assert_eq!(totals["bytes"], K * 18, "{totals}");
    assert!(!pair.rx_has_xdp());
}

#[test]
fn malformed_datagrams_are_counted_not_fatal() {
    let Some(pair) = setup("bad") else { return };
    let mac = pair.rx_mac();
    let out = run_xdp(&pair, "198.18.0.2:9000".parse().unwrap(), 102, move |addr| {
        // A UDP header claiming 100 payload bytes in a frame carrying 18; a foreign payload.
        send_frame(&mac, 100, &[0u8; 18]);
        send_frame(&mac, 18, b"not a probe header");
        send_stamped(addr, 1, 100);
    });
    let truncated: u64 = out.handlers.iter().map(|h| h.truncated).sum();
    let foreign: u64 = out.handlers.iter().map(|h| h.foreign).sum();
    assert_eq!(truncated, 1, "the cut datagram is marked truncated");
    assert!(foreign >= 1, "the foreign payload is counted");
    assert_eq!(all_seen(&out).len(), 100, "the good datagrams still count");
}

/// Sends one hand-made Ethernet/IPv4/UDP frame to 198.18.0.2:9000 out of xdpt-tx (in the
/// calling thread's namespace) with the given UDP payload length field.
fn send_frame(dst_mac: &[u8; 6], udp_payload_len: u16, payload: &[u8]) {
    let mut f = Vec::new();
    f.extend_from_slice(dst_mac);
    f.extend_from_slice(&[0x02, 0, 0, 0, 0, 1]);
    f.extend_from_slice(&[0x08, 0x00]);
    let total = (20 + 8 + payload.len()) as u16;
    let mut iph = [0u8; 20];
    iph[0] = 0x45;
    iph[2..4].copy_from_slice(&total.to_be_bytes());
    iph[8] = 64;
    iph[9] = 17;
    iph[12..16].copy_from_slice(&[198, 18, 0, 1]);
    iph[16..20].copy_from_slice(&[198, 18, 0, 2]);
    let mut sum = 0u32;
    for c in iph.chunks(2) {
        sum += u16::from_be_bytes([c[0], c[1]]) as u32;
    }
    while sum > 0xffff {
        sum = (sum & 0xffff) + (sum >> 16);
    }
    iph[10..12].copy_from_slice(&(!(sum as u16)).to_be_bytes());
    f.extend_from_slice(&iph);
    f.extend_from_slice(&40000u16.to_be_bytes());
    f.extend_from_slice(&9000u16.to_be_bytes());
    f.extend_from_slice(&(udp_payload_len + 8).to_be_bytes());
    f.extend_from_slice(&[0, 0]);
    f.extend_from_slice(payload);
    // SAFETY: plain socket(2) call.
    let fd = unsafe { libc::socket(libc::AF_PACKET, libc::SOCK_RAW, 0) };
    assert!(fd >= 0, "AF_PACKET socket: {}", std::io::Error::last_os_error());
    let name = std::ffi::CString::new("xdpt-tx").unwrap();
    // SAFETY: a NUL-terminated name.
    let ifindex = unsafe { libc::if_nametoindex(name.as_ptr()) };
    // SAFETY: all-zero is a valid sockaddr_ll.
    let mut sll: libc::sockaddr_ll = unsafe { std::mem::zeroed() };
    sll.sll_family = libc::AF_PACKET as u16;
    sll.sll_ifindex = ifindex as i32;
    sll.sll_halen = 6;
    sll.sll_addr[..6].copy_from_slice(dst_mac);
    // SAFETY: `f` and `sll` are live for the call with the lengths passed.
    let rc = unsafe {
        libc::sendto(
            fd,
            f.as_ptr().cast(),
            f.len(),
            0,
            (&sll as *const libc::sockaddr_ll).cast(),
            std::mem::size_of::<libc::sockaddr_ll>() as u32,
        )
    };
    assert_eq!(rc as usize, f.len(), "send frame: {}", std::io::Error::last_os_error());
    // SAFETY: closes the socket opened above once.
    unsafe { libc::close(fd) };
}

/// Starts `udprx run` in namespace b on 198.18.0.2:9000 with `args`; returns the child and its
/// stdout reader once it printed its set-up line (the program is attached by then).
fn spawn_udprx(
    pair: &Pair,
    args: &[&str],
) -> (std::process::Child, BufReader<std::process::ChildStdout>) {
    let mut child = Command::new("ip")
        .args(["netns", "exec", &pair.b, env!("CARGO_BIN_EXE_udprx"), "--bind", "198.18.0.2:9000"])
        .args(["--cpus", "none", "--interval", "0"])
        .args(args)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn udprx");
    let mut out = BufReader::new(child.stdout.take().unwrap());
    let mut line = String::new();
    out.read_line(&mut line).expect("set-up line");
    assert!(line.contains("listening on"), "udprx did not start: {line}");
    (child, out)
}

/// Runs `udprx --json FILE` with `args` while `send` runs in namespace a; returns the report.
fn cli_run(
    pair: &Pair,
    args: &[&str],
    send: impl FnOnce(SocketAddr) + Send + 'static,
) -> serde_json::Value {
    let json = std::env::temp_dir().join(format!("xdpt-{}-{}.json", std::process::id(), args[1]));
    let mut all: Vec<&str> = args.to_vec();
    let path = json.to_string_lossy().into_owned();
    all.extend(["--json", &path]);
    let (mut child, _out) = spawn_udprx(pair, &all);
    in_ns(&pair.a, move || send("198.18.0.2:9000".parse().unwrap())).join().expect("sender");
    let status = child.wait().unwrap();
    assert!(status.success(), "udprx failed: {status}");
    let text = std::fs::read_to_string(&json).expect("report");
    let _ = std::fs::remove_file(&json);
    serde_json::from_str(&text).expect("report JSON")
}

fn wait_for(child: &mut std::process::Child, limit: Duration) -> std::process::ExitStatus {
    let t0 = Instant::now();
    loop {
        if let Some(s) = child.try_wait().unwrap() {
            return s;
        }
        if t0.elapsed() > limit {
            let _ = child.kill();
            panic!("udprx did not end within {limit:?}");
        }
        std::thread::sleep(Duration::from_millis(20));
    }
}

#[test]
fn no_program_stays_attached_after_ctrl_c_kill_error_or_panic() {
    let Some(pair) = setup("end") else { return };
    // Ctrl-C and SIGKILL on the command line.
    for (sig, name) in [(libc::SIGINT, "SIGINT"), (libc::SIGKILL, "SIGKILL")] {
        for method in ["xdp", "xdp-drop"] {
            let (mut child, _out) = spawn_udprx(&pair, &["--method", method]);
            assert!(pair.rx_has_xdp(), "{method}: attached while running");
            // SAFETY: signals our own child.
            unsafe { libc::kill(child.id() as i32, sig) };
            let status = wait_for(&mut child, Duration::from_secs(10));
            if sig == libc::SIGINT {
                assert!(status.success(), "{method}: Ctrl-C ends normally: {status}");
            }
            // A BPF link goes away with the last fd; the kernel frees it shortly after a kill.
            let t0 = Instant::now();
            while pair.rx_has_xdp() && t0.elapsed() < Duration::from_secs(5) {
                std::thread::sleep(Duration::from_millis(20));
            }
            assert!(!pair.rx_has_xdp(), "{method}: program left attached after {name}");
        }
    }
    // A `--force` that cannot take the queue (a live AF_XDP receiver holds it) fails before it
    // detaches anything: the live receiver keeps its program (issue 25 row 4).
    let (mut live, _out) = spawn_udprx(&pair, &["--method", "xdp"]);
    let failed = Command::new("ip")
        .args(["netns", "exec", &pair.b, env!("CARGO_BIN_EXE_udprx"), "--bind", "198.18.0.2:9001"])
        .args(["--method", "xdp", "--duration", "1s", "--cpus", "none", "--force"])
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&failed.stderr);
    assert!(!failed.status.success() && err.contains("busy"), "{err}");
    assert!(pair.rx_has_xdp(), "a failed --force detached the live receiver's program: {err}");
    // SAFETY: signals our own child.
    unsafe { libc::kill(live.id() as i32, libc::SIGINT) };
    wait_for(&mut live, Duration::from_secs(10));

    // A second run refuses the hook a first one holds, and says who holds it.
    let (mut first, _out) = spawn_udprx(&pair, &["--method", "xdp-drop"]);
    let second = Command::new("ip")
        .args(["netns", "exec", &pair.b, env!("CARGO_BIN_EXE_udprx"), "--bind", "198.18.0.2:9001"])
        .args(["--method", "xdp", "--duration", "1s", "--cpus", "none"])
        .output()
        .unwrap();
    assert!(!second.status.success());
    let err = String::from_utf8_lossy(&second.stderr);
    assert!(err.contains("already has an XDP program") && err.contains("udprx_drop"), "{err}");
    assert!(err.contains("--force"), "{err}");
    // With --force it detaches the first run's program and takes the hook.
    let forced = Command::new("ip")
        .args(["netns", "exec", &pair.b, env!("CARGO_BIN_EXE_udprx"), "--bind", "198.18.0.2:9001"])
        .args(["--method", "xdp", "--duration", "1s", "--cpus", "none", "--interval", "0"])
        .arg("--force")
        .output()
        .unwrap();
    let said = String::from_utf8_lossy(&forced.stdout);
    assert!(forced.status.success(), "{said} {}", String::from_utf8_lossy(&forced.stderr));
    assert!(said.contains("detached XDP program") && said.contains("udprx_drop"), "{said}");
    // The run whose program was taken notices, stops and says so, exit 1 (not a silent 0).
    let status = wait_for(&mut first, Duration::from_secs(10));
    let mut victim = String::new();
    first.stderr.take().unwrap().read_to_string(&mut victim).unwrap();
    assert_eq!(status.code(), Some(1), "{victim}");
    assert!(victim.contains("was detached") && victim.contains("replaced"), "{victim}");

    // In-process: a handler panic ends the run with an error; a panic while the receiver is
    // alive unwinds through its drop. Both leave nothing attached.
    let r = in_ns(&pair.b, || {
        let rx = Receiver::builder("198.18.0.2:9000".parse().unwrap())
            .method(Method::Xdp)
            .cpus(vec![])
            .duration(Some(Duration::from_secs(5)))
            .build()
            .expect("build");
        rx.run(|_| |_: &udprx::Batch<'_>| -> Flow { panic!("handler fails on purpose") })
    });
    in_ns(&pair.a, || send_stamped("198.18.0.2:9000".parse().unwrap(), 1, 50)).join().unwrap();
    let result = r.join().expect("run returns").map(|o| o.threads);
    assert!(matches!(result, Err(udprx::Error::ThreadPanicked(0))), "{result:?}");
    assert!(!pair.rx_has_xdp(), "program left attached after a run error");
    let panicked = in_ns(&pair.b, || {
        let _rx = Receiver::builder("198.18.0.2:9000".parse().unwrap())
            .method(Method::XdpDrop)
            .build()
            .expect("build");
        panic!("the application panics while the receiver is set up");
    })
    .join();
    assert!(panicked.is_err());
    assert!(!pair.rx_has_xdp(), "program left attached after a panic");
}

#[test]
fn clear_errors_for_bad_interfaces_and_addresses() {
    let Some(pair) = setup("err") else { return };
    let cases: &[(&[&str], &str)] = &[
        (&["--bind", "198.18.0.2:9000", "--method", "xdp", "--iface", "xdpt-none"], "not found"),
        (&["--bind", "127.0.0.1:9000", "--method", "xdp", "--gro"], "--gro"),
        (&["--bind", "0.0.0.0:9000", "--method", "xdp"], "--iface"),
        (&["--bind", "198.18.7.7:9000", "--method", "xdp"], "not on any interface"),
        (&["--bind", "198.18.0.2:9000", "--method", "xdp-drop", "--sockets", "2"], "--sockets"),
        (&["--bind", "198.18.0.2:9000", "--method", "xdp", "--sockets", "4"], "receive queue"),
    ];
    for (args, want) in cases {
        let out = Command::new("ip")
            .args(["netns", "exec", &pair.b, env!("CARGO_BIN_EXE_udprx")])
            .args(*args)
            .args(["--duration", "1s"])
            .output()
            .unwrap();
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(!out.status.success(), "{args:?}");
        assert!(err.contains(want), "{args:?}: {err}");
        assert!(!err.contains("panicked"), "{args:?}: {err}");
    }
    // Without privileges (setpriv to nobody): the permission, not a raw errno.
    let out = Command::new("ip")
        .args(["netns", "exec", &pair.b, "setpriv", "--reuid=65534", "--regid=65534"])
        .args(["--clear-groups", env!("CARGO_BIN_EXE_udprx"), "--bind", "198.18.0.2:9000"])
        .args(["--method", "xdp-drop", "--duration", "1s"])
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    if err.contains("setpriv") && err.contains("No such file") {
        common::skip_part(Need::Setup, "no permission", "setpriv (util-linux) is not installed");
    } else if err.contains("failed to execute") {
        // The build directory is not open to other users here.
        common::skip_part(Need::Feature, "no permission", "udprx is not executable by nobody");
    } else {
        assert!(!out.status.success());
        assert!(err.contains("CAP_BPF") && err.contains("root"), "{err}");
    }
    assert!(!pair.rx_has_xdp());
}
