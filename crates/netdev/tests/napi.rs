//! Per-NAPI settings through netdev generic netlink on the live kernel: a two-queue veth pair
//! in a network namespace this test creates. Without GRO the veth lists no NAPI instance, and
//! `irq-suspend-timeout` is refused in one line naming the device and the setting, before
//! anything changes; with GRO on, `napi-get` lists one NAPI per receive queue, `napi-set`
//! changes `irq-suspend-timeout` (and `defer-hard-irqs`) on every one and it reads back, and the
//! journaled record (each NAPI id with its value) puts the values back; ids that are gone at
//! restore are named and skipped. Needs root, iproute2 and ethtool, and Linux 6.13+ for IRQ
//! suspension; skips visibly otherwise.

#[path = "../../../testsupport/skip.rs"]
mod skip;

use std::fs::File;
use std::os::fd::AsRawFd;
use std::process::Command;

use udprx_netdev::genl::{self, NapiParam, NetdevSocket};
use udprx_netdev::{RestoreRecord, Setting, Settings, Sys, validate_record};

struct Ns {
    name: String,
    dev: String,
}

fn ip(args: &[&str]) -> Result<(), String> {
    let out = Command::new("ip").args(args).output().map_err(|e| format!("ip: {e}"))?;
    if out.status.success() {
        Ok(())
    } else {
        Err(format!("ip {args:?}: {}", String::from_utf8_lossy(&out.stderr).trim()))
    }
}

impl Ns {
    fn up() -> Result<Ns, String> {
        let id = std::process::id();
        let ns = Ns { name: format!("udprx-napi{id}"), dev: format!("npb{id}") };
        ip(&["netns", "add", &ns.name])?;
        let peer = format!("npa{id}");
        let q = ["numrxqueues", "2", "numtxqueues", "2"];
        let mut link = vec!["-n", &ns.name, "link", "add", &peer];
        link.extend(q);
        link.extend(["type", "veth", "peer", "name", &ns.dev]);
        link.extend(q);
        ip(&link)?;
        ip(&["-n", &ns.name, "link", "set", &peer, "up"])?;
        ip(&["-n", &ns.name, "link", "set", &ns.dev, "up"])?;
        Ok(ns)
    }

    fn gro(&self, on: bool) {
        let o = Command::new("ip")
            .args(["netns", "exec", &self.name, "ethtool", "-K", &self.dev, "gro"])
            .arg(if on { "on" } else { "off" })
            .output()
            .unwrap();
        assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    }

    /// Runs `f` in a thread inside the namespace.
    fn run<T: Send>(&self, f: impl FnOnce() -> T + Send) -> T {
        std::thread::scope(|s| {
            s.spawn(|| {
                let file = File::open(format!("/run/netns/{}", self.name)).unwrap();
                // SAFETY: a valid namespace fd; setns only moves the calling thread.
                assert_eq!(unsafe { libc::setns(file.as_raw_fd(), libc::CLONE_NEWNET) }, 0);
                f()
            })
            .join()
            .unwrap()
        })
    }
}

impl Drop for Ns {
    fn drop(&mut self) {
        let _ = Command::new("ip").args(["netns", "del", &self.name]).output();
    }
}

struct NoEthtool;

impl udprx_netdev::settings::EthtoolRunner for NoEthtool {
    fn run(&self, _: &[&str]) -> Result<String, String> {
        Err("ethtool not used in this test".into())
    }
}

/// The NAPI ids of `dev` with their irq-suspend-timeout, read directly.
fn listed(dev: &str) -> Vec<(u32, Option<u64>)> {
    let mut s = NetdevSocket::open().unwrap();
    let napis = s.napi_list(genl::ifindex(dev).unwrap()).unwrap();
    napis.iter().map(|n| (n.id, n.irq_suspend_timeout)).collect()
}

#[test]
fn irq_suspend_timeout_on_a_veth_with_gro_is_set_read_back_and_restored() {
    if !skip::is_root() {
        return skip::skip(skip::Need::Root, "network namespaces and napi-set need root");
    }
    if Command::new("ethtool").arg("--version").output().is_err() {
        return skip::skip(skip::Need::Setup, "ethtool not installed (scripts/setup.sh)");
    }
    let ns = match Ns::up() {
        Ok(n) => n,
        Err(e) => return skip::skip(skip::Need::Root, &e),
    };
    let none = NoEthtool;
    let dev = ns.dev.clone();
    let suspend = Setting::Napi { dev: dev.clone(), param: "irq-suspend-timeout".into() };

    // GRO off: no NAPI listed, refused before anything changes.
    ns.gro(false);
    let e = ns.run(|| {
        assert!(listed(&dev).is_empty(), "a veth without GRO lists no NAPI");
        let s = Settings { sys: Sys::live(), ethtool: &none };
        s.check(&suspend, "2000000").unwrap_err()
    });
    assert!(
        e.starts_with(&format!("{dev} NAPI irq-suspend-timeout: the device lists no NAPI"))
            && e.contains("GRO")
            && e.lines().count() == 1,
        "{e}"
    );

    // GRO on: one NAPI per receive queue.
    ns.gro(true);
    let offered = ns.run(|| listed(&dev));
    assert_eq!(offered.len(), 2, "{offered:?}");
    if offered.iter().any(|(_, v)| v.is_none()) {
        let e = ns.run(|| {
            Settings { sys: Sys::live(), ethtool: &none }.check(&suspend, "1").unwrap_err()
        });
        assert!(e.contains("IRQ suspension needs Linux 6.13+"), "{e}");
        return skip::skip(skip::Need::Setup, "this kernel has no IRQ suspension (Linux 6.13+)");
    }
    let rec = ns.run(|| {
        let s = Settings { sys: Sys::live(), ethtool: &none };
        s.check(&suspend, "2000000").unwrap();
        assert_eq!(s.read(&suspend).unwrap(), "0");
        let rec = s.prepare(&suspend, "2000000").unwrap();
        s.apply(&suspend, "2000000").unwrap();
        assert_eq!(s.read(&suspend).unwrap(), "2000000");
        assert!(listed(&dev).iter().all(|(_, v)| *v == Some(2_000_000)));
        rec
    });
    let want: Vec<String> = offered.iter().map(|(id, _)| format!("{id}:0")).collect();
    assert_eq!(rec.before, want.join(" "), "each NAPI id with its value");
    validate_record(&rec).unwrap();
    let journal = serde_json::to_string(&rec).unwrap();
    assert!(journal.contains(r#""kind":"napi""#) && journal.contains("irq-suspend-timeout"));
    let back: RestoreRecord = serde_json::from_str(&journal).unwrap();
    ns.run(|| {
        let s = Settings { sys: Sys::live(), ethtool: &none };
        assert!(s.restore_checked(&back).unwrap().is_empty());
        assert_eq!(s.read(&suspend).unwrap(), "0");
        // NAPIs that differ read as each id's value.
        let one = format!("{}:5", offered[0].0);
        s.apply(&suspend, &one).unwrap();
        assert_eq!(s.read(&suspend).unwrap(), format!("{} {}:0", one, offered[1].0));
        s.restore(&back).unwrap();
        assert_eq!(s.read(&suspend).unwrap(), "0");
        // Per-NAPI defer-hard-irqs through the same client.
        let defer = Setting::Napi { dev: dev.clone(), param: "defer-hard-irqs".into() };
        let rec = s.prepare(&defer, "2").unwrap();
        s.apply(&defer, "2").unwrap();
        assert_eq!(s.read(&defer).unwrap(), "2");
        assert!(s.restore_checked(&rec).unwrap().is_empty());
        assert_eq!(s.read(&defer).unwrap(), "0");
        // A value per id from the user is refused (only a journal holds those).
        assert!(s.check(&suspend, &one).unwrap_err().contains("not an integer"));
    });

    // The ids are gone at restore (GRO off again): named, skipped, not an error.
    ns.run(|| {
        let s = Settings { sys: Sys::live(), ethtool: &none };
        s.apply(&suspend, "3000").unwrap();
    });
    ns.gro(false);
    ns.run(|| {
        let s = Settings { sys: Sys::live(), ethtool: &none };
        let notes = s.restore_checked(&back).unwrap();
        assert_eq!(notes.len(), 2, "{notes:?}");
        for ((id, _), n) in offered.iter().zip(&notes) {
            assert!(
                n.starts_with(&format!(
                    "{dev} NAPI irq-suspend-timeout: NAPI {id} no longer exists"
                )) && n.contains("lists none"),
                "{n}"
            );
        }
    });
    // A record naming a listed id and one that never existed: the first written, the second
    // named.
    ns.gro(true);
    ns.run(|| {
        let now = listed(&dev);
        let s = Settings { sys: Sys::live(), ethtool: &none };
        s.apply(&suspend, "7").unwrap();
        let rec = RestoreRecord {
            setting: suspend.clone(),
            before: format!("{}:0 4000000000:0", now[0].0),
            after: "7".into(),
        };
        let notes = s.restore_checked(&rec).unwrap();
        assert!(notes.len() == 1 && notes[0].contains("NAPI 4000000000 no longer exists"));
        let after = listed(&dev);
        assert_eq!(after[0], (now[0].0, Some(0)));
        assert_eq!(after[1], (now[1].0, Some(7)), "an id the record does not name is left");
        s.apply(&suspend, "0").unwrap();
    });
    let _ = NapiParam::ALL;
}
