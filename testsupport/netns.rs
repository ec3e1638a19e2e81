//! A network namespace of one test with two addresses on its `lo` (198.18.0.1 and 198.18.0.5,
//! from the RFC 2544 benchmarking range), deleted when dropped; and a way to run code inside it.
#![allow(dead_code)]

use std::os::fd::AsRawFd;
use std::process::Command;

/// The first address on the namespace's `lo`.
pub const ADDR_1: [u8; 4] = [198, 18, 0, 1];
/// The second address on the namespace's `lo`.
pub const ADDR_5: [u8; 4] = [198, 18, 0, 5];

/// A namespace named `udprx-<tag><pid>`, `lo` up with [`ADDR_1`] and [`ADDR_5`]; deleted on drop.
pub struct TwoAddrNetns(String);

impl TwoAddrNetns {
    /// Creates the namespace (needs root); panics with `ip`'s message when it cannot.
    pub fn new(tag: &str) -> TwoAddrNetns {
        let ns = TwoAddrNetns(format!("udprx-{tag}{}", std::process::id()));
        ip(&["netns", "add", &ns.0]);
        ip(&["-n", &ns.0, "link", "set", "lo", "up"]);
        ip(&["-n", &ns.0, "addr", "add", "198.18.0.1/32", "dev", "lo"]);
        ip(&["-n", &ns.0, "addr", "add", "198.18.0.5/32", "dev", "lo"]);
        ns
    }

    /// Runs `f` on a thread moved into the namespace and returns its result.
    pub fn run<T: Send + 'static>(&self, f: impl FnOnce() -> T + Send + 'static) -> T {
        let path = format!("/run/netns/{}", self.0);
        std::thread::spawn(move || {
            let file = std::fs::File::open(&path).expect("open netns");
            // SAFETY: `file` is an open namespace file; setns only changes this thread's
            // network namespace.
            assert_eq!(unsafe { libc::setns(file.as_raw_fd(), libc::CLONE_NEWNET) }, 0);
            f()
        })
        .join()
        .expect("namespace thread")
    }
}

impl Drop for TwoAddrNetns {
    fn drop(&mut self) {
        let _ = Command::new("ip").args(["netns", "del", &self.0]).output();
    }
}

fn ip(args: &[&str]) {
    let out = Command::new("ip").args(args).output().expect("run ip");
    assert!(out.status.success(), "ip {args:?}: {}", String::from_utf8_lossy(&out.stderr));
}
