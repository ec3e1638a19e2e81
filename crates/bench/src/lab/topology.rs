//! Where the traffic flows: loopback in the current namespace, or two network namespaces joined
//! by a veth pair (198.18.0.1 ⇄ 198.18.0.2/30), built with iproute2 and always torn down.
//!
//! The harness runs sender and receiver in this process, each in a thread that entered its
//! namespace with `setns` (see [`in_netns`]): sockets keep the namespace they were created in,
//! the receive engine's threads inherit it, and the namespace's `/proc/thread-self/net/snmp` is
//! read with a timestamp in the same process — spawning `ip netns exec` per counter read would
//! stretch the measurement window by 0.1–0.3 s. Only the reference programs (iperf3, sockperf)
//! run as children under `ip netns exec`.

use crate::lab::sys;
pub use crate::model::topology::{Kind, Veth};
use crate::{Error, Result};
use std::net::{IpAddr, Ipv4Addr};
use std::path::PathBuf;
use std::process::Command;
use std::sync::atomic::{AtomicU32, Ordering};

/// Sender-side address of the veth pair.
pub const TX_ADDR: Ipv4Addr = Ipv4Addr::new(198, 18, 0, 1);
/// Receiver-side address of the veth pair.
pub const RX_ADDR: Ipv4Addr = Ipv4Addr::new(198, 18, 0, 2);
/// Prefix of every namespace this harness creates (followed by pid and counter).
pub const NS_PREFIX: &str = "udpb-";

static COUNTER: AtomicU32 = AtomicU32::new(0);

impl Kind {
    /// Parses a command-line name.
    pub fn parse(s: &str) -> Result<Kind> {
        match s {
            "loopback" | "lo" => Ok(Kind::Loopback),
            "veth" => Ok(Kind::Veth),
            _ => {
                Err(Error::BadInput(format!("unknown topology {s:?} (expected loopback or veth)")))
            }
        }
    }

    /// The name used in reports.
    pub fn name(self) -> &'static str {
        match self {
            Kind::Loopback => "loopback",
            Kind::Veth => "veth",
            Kind::Remote => "remote",
        }
    }
}

/// Refuses a veth topology without root, with the reason (exit 2).
pub fn check_allowed(kind: Kind, is_root: bool) -> Result<()> {
    if kind == Kind::Veth && !is_root {
        return Err(Error::BadInput(
            "--topology veth needs root (CAP_NET_ADMIN and CAP_SYS_ADMIN to create network \
             namespaces); run as root, or use --topology loopback"
                .into(),
        ));
    }
    Ok(())
}

/// True when the harness may build namespaces: effective root, unless `UDPRX_BENCH_NOT_ROOT`
/// is set (tests use it to exercise the non-root path as root).
pub fn is_root() -> bool {
    sys::euid_is_root() && std::env::var_os("UDPRX_BENCH_NOT_ROOT").is_none()
}

/// The built topology. Dropping it deletes the namespaces (and with them the veth pair).
#[derive(Debug)]
pub struct Topology {
    kind: Kind,
    veth: Option<Veth>,
    /// The receive address on this host, for [`Kind::Remote`].
    bind: Option<IpAddr>,
}

impl Veth {
    /// The names of topology number `n` of process `pid`: namespaces `udpb-<pid>-<n>-{tx,rx}`
    /// (the pid is what [`stale_namespaces`] reads back) and interfaces `ubt<pid>n<n>` /
    /// `ubr<pid>n<n>`, at most 15 bytes (IFNAMSIZ) for any pid and up to 10,000 topologies.
    pub fn named(pid: u32, n: u32) -> Veth {
        Veth {
            tx_ns: format!("{NS_PREFIX}{pid}-{n}-tx"),
            rx_ns: format!("{NS_PREFIX}{pid}-{n}-rx"),
            tx_if: format!("ubt{pid}n{n}"),
            rx_if: format!("ubr{pid}n{n}"),
        }
    }
}

impl Topology {
    /// Loopback: nothing to build.
    pub fn loopback() -> Topology {
        Topology { kind: Kind::Loopback, veth: None, bind: None }
    }

    /// Two hosts: the receiver binds `bind` in this namespace; nothing to build.
    pub fn remote(bind: IpAddr) -> Topology {
        Topology { kind: Kind::Remote, veth: None, bind: Some(bind) }
    }

    /// Builds the veth topology with names unique to this process and call. On any failure what
    /// was built is removed again.
    pub fn veth() -> Result<Topology> {
        let n = COUNTER.fetch_add(1, Ordering::Relaxed);
        let veth = Veth::named(std::process::id(), n);
        // The guard exists from the first command on, so a failure half-way cleans up.
        let topo = Topology { kind: Kind::Veth, veth: Some(veth.clone()), bind: None };
        let v = &veth;
        let tx_a = format!("{TX_ADDR}/30");
        let rx_a = format!("{RX_ADDR}/30");
        ip(&["netns", "add", &v.tx_ns])?;
        ip(&["netns", "add", &v.rx_ns])?;
        ip(&[
            "link", "add", &v.tx_if, "netns", &v.tx_ns, "type", "veth", "peer", "name", &v.rx_if,
            "netns", &v.rx_ns,
        ])?;
        ip(&["-n", &v.tx_ns, "addr", "add", &tx_a, "dev", &v.tx_if])?;
        ip(&["-n", &v.rx_ns, "addr", "add", &rx_a, "dev", &v.rx_if])?;
        for (ns, dev) in [(&v.tx_ns, &v.tx_if), (&v.rx_ns, &v.rx_if)] {
            ip(&["-n", ns, "link", "set", "lo", "up"])?;
            ip(&["-n", ns, "link", "set", dev, "up"])?;
        }
        Ok(topo)
    }

    /// Which topology this is.
    pub fn kind(&self) -> Kind {
        self.kind
    }

    /// The veth details, for the veth topology.
    pub fn veth_info(&self) -> Option<&Veth> {
        self.veth.as_ref()
    }

    /// Address the receiver binds and the sender targets.
    pub fn rx_addr(&self) -> IpAddr {
        match self.kind {
            Kind::Loopback => IpAddr::V4(Ipv4Addr::LOCALHOST),
            Kind::Veth => IpAddr::V4(RX_ADDR),
            Kind::Remote => self.bind.unwrap_or(IpAddr::V4(Ipv4Addr::UNSPECIFIED)),
        }
    }

    /// Namespace file of the sender, `None` for the current namespace.
    pub fn tx_netns(&self) -> Option<PathBuf> {
        self.veth.as_ref().map(|v| netns_path(&v.tx_ns))
    }

    /// Namespace file of the receiver, `None` for the current namespace.
    pub fn rx_netns(&self) -> Option<PathBuf> {
        self.veth.as_ref().map(|v| netns_path(&v.rx_ns))
    }

    /// Namespace names (sender, receiver), for `ip netns exec`.
    pub fn ns_names(&self) -> Option<(&str, &str)> {
        self.veth.as_ref().map(|v| (v.tx_ns.as_str(), v.rx_ns.as_str()))
    }

    /// Sets the receive-side RPS mask of the receiver's veth interface (an empty `cpus` turns
    /// RPS off). A no-op on loopback, where it returns an explanation instead.
    pub fn set_rps(&self, cpus: &[usize]) -> Result<Option<String>> {
        let Some(v) = &self.veth else {
            return Ok(Some("RPS is only set on the veth topology".into()));
        };
        let mask = cpu_mask(cpus);
        let path = format!("/sys/class/net/{}/queues/rx-0/rps_cpus", v.rx_if);
        // sysfs shows the devices of the namespace it was mounted in: `ip netns exec` mounts
        // the receiver namespace's view.
        run(Command::new("ip")
            .args(["netns", "exec", &v.rx_ns, "sh", "-c"])
            .arg(format!("echo {mask} > {path}")))
        .map_err(Error::Topology)?;
        Ok(None)
    }

    /// Turns threaded NAPI on the receiver's veth interface on or off (`/sys/class/net/IF/threaded`):
    /// with an XDP program attached, the veth's NAPI poll (where XDP runs) then runs in a kernel
    /// thread that can be pinned to the receiver's core instead of the sender's softirq.
    pub fn set_threaded_napi(&self, on: bool) -> Result<Option<String>> {
        let Some(v) = &self.veth else {
            return Ok(Some("threaded NAPI is only set on the veth topology".into()));
        };
        let path = format!("/sys/class/net/{}/threaded", v.rx_if);
        run(Command::new("ip")
            .args(["netns", "exec", &v.rx_ns, "sh", "-c"])
            .arg(format!("echo {} > {path}", on as u8)))
        .map_err(Error::Topology)?;
        Ok(None)
    }

    /// The NAPI kernel threads of the receiver's veth (`napi/<if>-<id>`), by pid.
    pub fn napi_threads(&self) -> Vec<i32> {
        let Some(v) = &self.veth else { return Vec::new() };
        let want = format!("napi/{}-", v.rx_if);
        // The command name is cut to 15 bytes.
        let want = &want[..want.len().min(15)];
        let Ok(dir) = std::fs::read_dir("/proc") else { return Vec::new() };
        dir.filter_map(|e| e.ok()?.file_name().to_str()?.parse::<i32>().ok())
            .filter(|pid| {
                std::fs::read_to_string(format!("/proc/{pid}/comm"))
                    .is_ok_and(|c| c.trim_end().starts_with(want))
            })
            .collect()
    }

    /// Turns GRO on the receiver's veth interface on or off with ethtool; returns why it could
    /// not (ethtool missing, loopback) instead of failing the run.
    pub fn set_veth_gro(&self, on: bool) -> Option<String> {
        let Some(v) = &self.veth else {
            return Some("GRO on the veth only applies to the veth topology".into());
        };
        if !have_program("ethtool") {
            return Some(
                "ethtool is not installed (scripts/setup.sh installs it): veth GRO left as is"
                    .into(),
            );
        }
        let state = if on { "on" } else { "off" };
        let r = run(Command::new("ip")
            .args(["netns", "exec", &v.rx_ns, "ethtool", "-K", &v.rx_if, "gro", state]));
        r.err().map(|e| format!("ethtool -K {} gro {state} failed: {e}", v.rx_if))
    }
}

impl Drop for Topology {
    fn drop(&mut self) {
        if let Some(v) = self.veth.take() {
            // Deleting a namespace deletes its end of the pair, and with it the peer.
            for ns in [&v.rx_ns, &v.tx_ns] {
                if !netns_path(ns).exists() {
                    continue;
                }
                if let Err(e) = ip(&["netns", "del", ns]) {
                    eprintln!("udprx bench: could not delete namespace {ns}: {e}");
                }
            }
        }
    }
}

/// The bind-mount file of a named namespace.
pub fn netns_path(name: &str) -> PathBuf {
    PathBuf::from("/run/netns").join(name)
}

/// Namespaces of this harness whose process is gone (left behind by a SIGKILL): their names.
pub fn stale_namespaces() -> Vec<String> {
    let Ok(dir) = std::fs::read_dir("/run/netns") else { return Vec::new() };
    dir.filter_map(|e| e.ok())
        .filter_map(|e| e.file_name().into_string().ok())
        .filter(|name| {
            let Some(rest) = name.strip_prefix(NS_PREFIX) else { return false };
            let Some(pid) = rest.split('-').next().and_then(|p| p.parse::<u32>().ok()) else {
                return false;
            };
            !std::path::Path::new(&format!("/proc/{pid}")).exists()
        })
        .collect()
}

/// Deletes namespaces left behind by dead runs of this harness (never a live process's).
pub fn remove_stale_namespaces() -> Vec<String> {
    let stale = stale_namespaces();
    for ns in &stale {
        let _ = ip(&["netns", "del", ns]);
    }
    stale
}

/// Runs `f` in a new thread that first entered the namespace at `netns` (or stays in the
/// current one for `None`), and returns its result.
pub fn in_netns<T, F>(netns: Option<&std::path::Path>, f: F) -> Result<T>
where
    T: Send,
    F: FnOnce() -> T + Send,
{
    std::thread::scope(|s| {
        s.spawn(|| {
            if let Some(path) = netns {
                sys::enter_netns(path).map_err(|e| {
                    Error::Topology(format!("entering namespace {}: {e}", path.display()))
                })?;
            }
            Ok(f())
        })
        .join()
        .map_err(|_| Error::Cell("a thread inside the namespace panicked".into()))?
    })
}

/// A hex CPU mask for sysfs (`3` for cores 0 and 1; `0` for none).
pub fn cpu_mask(cpus: &[usize]) -> String {
    let mut words: Vec<u32> = vec![0];
    for &c in cpus {
        let w = c / 32;
        if words.len() <= w {
            words.resize(w + 1, 0);
        }
        words[w] |= 1 << (c % 32);
    }
    // sysfs takes comma-separated 32-bit words, most significant first.
    words.iter().rev().map(|w| format!("{w:x}")).collect::<Vec<_>>().join(",")
}

/// True when `name` is found on PATH (or in /usr/sbin, /sbin).
pub fn have_program(name: &str) -> bool {
    let path = std::env::var("PATH").unwrap_or_default();
    path.split(':')
        .chain(["/usr/sbin", "/sbin", "/usr/bin"])
        .any(|d| std::path::Path::new(d).join(name).is_file())
}

fn ip(args: &[&str]) -> Result<()> {
    run(Command::new("ip").args(args)).map_err(Error::Topology)
}

fn run(cmd: &mut Command) -> std::result::Result<(), String> {
    let shown = format!("{cmd:?}");
    let out = cmd.output().map_err(|e| format!("{shown}: {e}"))?;
    if out.status.success() {
        Ok(())
    } else {
        Err(format!("{shown}: {}", String::from_utf8_lossy(&out.stderr).trim()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn masks() {
        assert_eq!(cpu_mask(&[]), "0");
        assert_eq!(cpu_mask(&[0, 1]), "3");
        assert_eq!(cpu_mask(&[1]), "2");
        assert_eq!(cpu_mask(&[33]), "2,0");
    }

    #[test]
    fn veth_needs_root() {
        let e = check_allowed(Kind::Veth, false).unwrap_err();
        assert!(e.is_bad_input());
        assert!(e.to_string().contains("root"));
        check_allowed(Kind::Veth, true).unwrap();
        check_allowed(Kind::Loopback, false).unwrap();
    }

    #[test]
    fn a_panic_still_removes_the_namespaces() {
        if !crate::test_skip::root_or_skip("building network namespaces") {
            return;
        }
        let names = std::sync::Mutex::new(None);
        let r = std::panic::catch_unwind(|| {
            let topo = Topology::veth().expect("veth topology");
            let v = topo.veth_info().unwrap();
            *names.lock().unwrap() = Some((v.tx_ns.clone(), v.rx_ns.clone()));
            panic!("a failure mid-run");
        });
        assert!(r.is_err());
        let (tx, rx) = names.lock().unwrap().clone().expect("built");
        assert!(!netns_path(&tx).exists(), "{tx} left behind after a panic");
        assert!(!netns_path(&rx).exists(), "{rx} left behind after a panic");
    }

    #[test]
    fn names_fit_interface_limits_and_are_distinct() {
        // The largest pid_max, and the last of the 10,000 topologies a process may build.
        for (pid, n) in [(4_194_304u32, 9_999u32), (1, 0), (4_194_304, 0)] {
            let v = Veth::named(pid, n);
            for name in [&v.tx_if, &v.rx_if] {
                assert!(name.len() <= 15, "{name:?} is longer than IFNAMSIZ - 1");
            }
            assert_ne!(v.tx_if, v.rx_if);
            assert_ne!(v.tx_ns, v.rx_ns);
            // The stale-namespace sweep reads the pid back from the namespace name.
            let rest = v.rx_ns.strip_prefix(NS_PREFIX).unwrap();
            assert_eq!(rest.split('-').next().unwrap().parse::<u32>().unwrap(), pid);
        }
        // Two topologies of one process never share a name.
        let (a, b) = (Veth::named(7, 1), Veth::named(7, 11));
        assert_ne!(a.tx_if, b.tx_if);
        assert_ne!(a.tx_ns, b.tx_ns);
    }

    #[test]
    fn veth_topology_is_built_and_removed() {
        if !crate::test_skip::root_or_skip("building network namespaces") {
            return;
        }
        let names;
        {
            let topo = Topology::veth().expect("veth topology");
            let v = topo.veth_info().unwrap().clone();
            names = (v.tx_ns.clone(), v.rx_ns.clone());
            assert!(netns_path(&v.rx_ns).exists());
            // A socket bound inside the receiver namespace gets the veth address.
            let bound = in_netns(topo.rx_netns().as_deref(), || {
                std::net::UdpSocket::bind((RX_ADDR, 0)).map(|s| s.local_addr().unwrap())
            })
            .unwrap();
            assert_eq!(bound.unwrap().ip(), IpAddr::V4(RX_ADDR));
            // And the counters there are the namespace's own: a datagram across the pair shows.
            let got = in_netns(topo.rx_netns().as_deref(), || {
                let rx = std::net::UdpSocket::bind((RX_ADDR, 0)).unwrap();
                rx.set_read_timeout(Some(std::time::Duration::from_secs(5))).unwrap();
                let port = rx.local_addr().unwrap().port();
                let before = udprx_stats::kernel::UdpSample::read().unwrap();
                in_netns(topo.tx_netns().as_deref(), || {
                    let tx = std::net::UdpSocket::bind((TX_ADDR, 0)).unwrap();
                    tx.send_to(b"hello", (RX_ADDR, port)).unwrap();
                })
                .unwrap();
                let mut buf = [0u8; 16];
                let n = rx.recv(&mut buf).unwrap();
                (n, udprx_stats::kernel::UdpSample::read().unwrap().delta(&before))
            })
            .unwrap();
            assert_eq!(got.0, 5);
            assert_eq!(got.1.get("InDatagrams"), 1);
            topo.set_rps(&[1]).unwrap();
        }
        assert!(!netns_path(&names.0).exists(), "sender namespace left behind");
        assert!(!netns_path(&names.1).exists(), "receiver namespace left behind");
    }
}
