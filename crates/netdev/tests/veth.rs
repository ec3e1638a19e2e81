//! On a multi-queue veth pair (numrxqueues/numtxqueues 2) between two network namespaces this
//! test creates: discovery (2 rx and 2 tx queues, kind veth, no interrupts and a note saying
//! so), the placement map, and one trial's books with forced NIC-level drops — datagrams larger
//! than the receiving veth's MTU are dropped by the device and counted in its `rx_dropped`, so
//! `sent = received + socket drops + backlog drops + NIC drops` balances with the drops in the
//! NIC term. Needs root and iproute2; skips visibly otherwise.

#[path = "../../../testsupport/skip.rs"]
mod skip;

use std::ffi::CString;
use std::fs::File;
use std::net::UdpSocket;
use std::os::fd::AsRawFd;
use std::path::PathBuf;
use std::process::Command;
use std::time::{Duration, Instant};

use udprx_netdev::counters::backlog_drops;
use udprx_netdev::placement::cpu_nodes;
use udprx_netdev::{
    NicSnapshot, Setting, Settings, Sys, Term, balance, discover, nic_drops, propose,
};
use udprx_stats::kernel::UdpSample;

const BIG: usize = 1400;
const N_BIG: u64 = 50;
const N_SMALL: u64 = 200;

struct Pair {
    a: String,
    b: String,
    dev_a: String,
    dev_b: String,
}

impl Pair {
    fn up() -> Result<Pair, String> {
        let id = std::process::id();
        let p = Pair {
            a: format!("udprx-nda{id}"),
            b: format!("udprx-ndb{id}"),
            dev_a: format!("nda{id}"),
            dev_b: format!("ndb{id}"),
        };
        let q = ["numrxqueues", "2", "numtxqueues", "2"];
        let mut link = vec!["link", "add", &p.dev_a, "netns", &p.a];
        link.extend(q);
        link.extend(["type", "veth", "peer", "name", &p.dev_b, "netns", &p.b]);
        link.extend(q);
        let steps: Vec<Vec<&str>> = vec![
            vec!["netns", "add", &p.a],
            vec!["netns", "add", &p.b],
            link,
            vec!["-n", &p.a, "addr", "add", "198.18.0.1/30", "dev", &p.dev_a],
            vec!["-n", &p.b, "addr", "add", "198.18.0.2/30", "dev", &p.dev_b],
            vec!["-n", &p.a, "link", "set", &p.dev_a, "up"],
            vec!["-n", &p.b, "link", "set", &p.dev_b, "up"],
            // Datagrams above 1000 bytes are dropped by the receiving device (NIC drops).
            vec!["-n", &p.b, "link", "set", &p.dev_b, "mtu", "1000"],
        ];
        for s in steps {
            let out = Command::new("ip").args(&s).output().map_err(|e| format!("ip: {e}"))?;
            if !out.status.success() {
                return Err(format!("ip {s:?}: {}", String::from_utf8_lossy(&out.stderr).trim()));
            }
        }
        Ok(p)
    }
}

impl Drop for Pair {
    fn drop(&mut self) {
        let _ = Command::new("ip").args(["netns", "del", &self.a]).output();
        let _ = Command::new("ip").args(["netns", "del", &self.b]).output();
    }
}

fn enter(ns: &str) {
    let f = File::open(format!("/run/netns/{ns}")).expect("open namespace");
    // SAFETY: a valid namespace fd; setns only moves the calling thread.
    assert_eq!(unsafe { libc::setns(f.as_raw_fd(), libc::CLONE_NEWNET) }, 0);
}

/// sysfs as the calling thread's namespace sees it, mounted on a private directory.
struct NsSysfs(PathBuf);

impl NsSysfs {
    fn mount(tag: &str) -> NsSysfs {
        let dir = std::env::temp_dir().join(format!("udprx-netdev-{tag}-{}", std::process::id()));
        std::fs::create_dir_all(dir.join("sys")).unwrap();
        let target = CString::new(dir.join("sys").to_str().unwrap()).unwrap();
        let fs = CString::new("sysfs").unwrap();
        // SAFETY: valid NUL-terminated strings that outlive the call; no data argument.
        let rc =
            unsafe { libc::mount(fs.as_ptr(), target.as_ptr(), fs.as_ptr(), 0, std::ptr::null()) };
        assert_eq!(rc, 0, "mount sysfs: {}", std::io::Error::last_os_error());
        NsSysfs(dir)
    }
    fn sys(&self) -> Sys {
        Sys { sys: self.0.join("sys"), proc: PathBuf::from("/proc"), ethtool: true }
    }
}

impl Drop for NsSysfs {
    fn drop(&mut self) {
        let target = CString::new(self.0.join("sys").to_str().unwrap()).unwrap();
        // SAFETY: a valid path string; unmounts what `mount` above mounted.
        unsafe { libc::umount2(target.as_ptr(), libc::MNT_DETACH) };
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// Sysfs settings on the live veth: napi_defer_hard_irqs and gro_flush_timeout journal,
/// apply and restore; threaded NAPI on a veth without NAPI (no GRO/XDP) is refused by the
/// kernel, with one line naming the device and the setting, and stays off; a receive queue's
/// IRQ affinity is refused (no interrupts).
fn settings_on_veth(sys: &Sys, dev: &str) {
    let none = NoEthtool;
    let s = Settings { sys: sys.clone(), ethtool: &none };
    for (setting, value) in [
        (Setting::NapiDeferHardIrqs { dev: dev.into() }, "2"),
        (Setting::GroFlushTimeout { dev: dev.into() }, "20000"),
    ] {
        let rec = s.prepare(&setting, value).unwrap();
        let journal = serde_json::to_string(&rec).unwrap();
        s.apply(&setting, value).unwrap();
        assert_eq!(s.read(&setting).unwrap(), value);
        let back: udprx_netdev::RestoreRecord = serde_json::from_str(&journal).unwrap();
        s.restore(&back).unwrap();
        assert_eq!(s.read(&setting).unwrap(), rec.before);
    }
    let threaded = Setting::ThreadedNapi { dev: dev.into() };
    assert_eq!(s.read(&threaded).unwrap(), "0");
    if let Err(e) = s.apply(&threaded, "1") {
        assert!(e.starts_with(&format!("{dev} threaded NAPI: ")) && e.lines().count() == 1, "{e}");
        assert_eq!(s.read(&threaded).unwrap(), "0");
    } else {
        s.apply(&threaded, "0").unwrap();
    }
    // Coalescing through a missing ethtool: refused before anything changes.
    let c = Setting::Coalesce { dev: dev.into(), param: "rx-usecs".into() };
    assert!(s.check(&c, "10").unwrap_err().starts_with(&format!("{dev} coalescing rx-usecs: ")));
    // RSS through the real ethtool (run from this thread, inside the namespace): a veth has
    // neither hash fields nor an indirection table, refused in one line naming both.
    if Command::new("ethtool").arg("--version").output().is_ok() {
        let ethtool = udprx_netdev::settings::EthtoolBinary;
        let live = Settings { sys: sys.clone(), ethtool: &ethtool };
        for (setting, value, about) in [
            (
                Setting::RssHashFields { dev: dev.into(), flow: "udp4".into() },
                "sdfn",
                "RSS hash fields of udp4",
            ),
            (Setting::RssIndir { dev: dev.into() }, "equal:1", "RSS indirection table"),
        ] {
            let e = live.check(&setting, value).unwrap_err();
            assert!(
                e.starts_with(&format!("{dev} {about}: "))
                    && e.contains("Operation not supported")
                    && e.lines().count() == 1,
                "{e}"
            );
        }
    } else {
        skip::skip_part(skip::Need::Setup, "RSS refusal", "ethtool not installed");
    }
    // A receive queue's IRQ affinity: a veth has no interrupt of its own, refused in one line.
    let irq = Setting::QueueIrqAffinity { dev: dev.into(), queue: 0 };
    let e = s.check(&irq, "0").unwrap_err();
    assert!(
        e.starts_with(&format!("{dev} rx-0 IRQ affinity: {dev} has no per-queue interrupt (veth "))
            && e.lines().count() == 1,
        "{e}"
    );
}

struct NoEthtool;

impl udprx_netdev::settings::EthtoolRunner for NoEthtool {
    fn run(&self, _: &[&str]) -> Result<String, String> {
        Err("ethtool not used in this test".into())
    }
}

#[test]
fn multiqueue_veth_discovery_placement_and_books_with_nic_drops() {
    if !skip::is_root() {
        return skip::skip(skip::Need::Root, "network namespaces need root");
    }
    let pair = match Pair::up() {
        Ok(p) => p,
        Err(e) => return skip::skip(skip::Need::Root, &e),
    };
    let (b_ns, a_ns, dev_b) = (pair.b.clone(), pair.a.clone(), pair.dev_b.clone());
    let (port_tx, port_rx) = std::sync::mpsc::channel();
    let receiver = std::thread::spawn(move || {
        enter(&b_ns);
        let sysfs = NsSysfs::mount("b");
        let sys = sysfs.sys();
        let info = discover(&sys, &dev_b).expect("discover");
        settings_on_veth(&sys, &dev_b);
        let placement = propose(&info, &cpu_nodes(&Sys::live()), &[0, 1]);
        let before = NicSnapshot::read(&sys, &dev_b, None).unwrap();
        let udp0 = UdpSample::read().unwrap();
        let sock = UdpSocket::bind("198.18.0.2:0").unwrap();
        sock.set_read_timeout(Some(Duration::from_millis(100))).unwrap();
        port_tx.send(sock.local_addr().unwrap().port()).unwrap();
        let mut buf = [0u8; 2048];
        let mut received = 0u64;
        let t0 = Instant::now();
        while received < N_SMALL && t0.elapsed() < Duration::from_secs(5) {
            if sock.recv(&mut buf).is_ok() {
                received += 1;
            }
        }
        std::thread::sleep(Duration::from_millis(100));
        let after = NicSnapshot::read(&sys, &dev_b, None).unwrap();
        let udp = UdpSample::read().unwrap().delta(&udp0);
        (info, placement, after.delta(&before), received, udp.get("RcvbufErrors").max(0) as u64)
    });
    let port = port_rx.recv_timeout(Duration::from_secs(10)).expect("receiver ready");
    let sent = std::thread::spawn(move || {
        enter(&a_ns);
        let s = UdpSocket::bind("198.18.0.1:0").unwrap();
        let mut sent = 0;
        for i in 0..N_BIG + N_SMALL {
            let len = if i < N_BIG { BIG } else { 64 };
            s.send_to(&vec![0u8; len], ("198.18.0.2", port)).unwrap();
            sent += 1;
            if i % 50 == 49 {
                std::thread::sleep(Duration::from_millis(2));
            }
        }
        sent
    })
    .join()
    .unwrap();
    let (info, placement, delta, received, rcvbuf) = receiver.join().unwrap();

    assert_eq!((info.rx_queues, info.tx_queues), (2, 2), "{info:?}");
    assert_eq!(info.kind, "veth");
    assert!(info.driver.is_none() && info.irqs.is_empty());
    assert!(info.notes.iter().any(|n| n.contains("no interrupts")), "{:?}", info.notes);
    assert_eq!(placement.slots.len(), 2);
    assert_eq!(placement.steering, "hash");
    let map = placement.to_map();
    assert!(map.contains("rx-0") && map.contains("rx-1") && map.contains("note:"), "{map}");

    assert_eq!(received, N_SMALL, "every small datagram arrives");
    let nic = nic_drops(&delta);
    assert_eq!(nic.value, N_BIG, "the oversized datagrams are the device's drops: {}", nic.source);
    assert!(nic.source.contains("rx_dropped"));
    // veth's driver statistics, read through the ethtool ioctl, per queue.
    assert!(delta.driver.contains_key("peer_ifindex"), "{:?}", delta.driver);
    assert!(delta.per_queue.contains_key(&1), "{:?}", delta.per_queue);
    let backlog = backlog_drops(&delta);
    let books = balance(
        Term::new(sent, "test sender"),
        Term::new(received, "test receiver"),
        Term::new(rcvbuf, "/proc/net/snmp Udp RcvbufErrors"),
        backlog.clone(),
        nic,
    );
    if backlog.value == 0 {
        assert_eq!(books.unaccounted, 0, "{}", books.to_text());
    } else {
        // softnet is host-wide: another process's backlog drops show here.
        skip::skip_part(skip::Need::Feature, "exact balance", "host-wide backlog drops elsewhere");
        assert_eq!(books.unaccounted, -(backlog.value as i64), "{}", books.to_text());
    }
}
