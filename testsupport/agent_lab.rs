//! Two hosts in one machine for the agent tests: the namespace pair of `scripts/netns.sh`
//! (tx 198.18.0.1 ⇄ rx 198.18.0.2) with `udpflood agent` running in tx; torn down on drop, also
//! when the test fails. Include it beside `skip.rs` (it uses `crate::skip`).
#![allow(dead_code)]

use std::io::{BufRead, BufReader};
use std::net::SocketAddr;
use std::os::fd::AsRawFd;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicUsize, Ordering};

use crate::skip;

static COUNTER: AtomicUsize = AtomicUsize::new(0);

/// The namespaces and a running agent in tx.
pub struct AgentLab {
    /// The namespaces' prefix (`<prefix>-tx`, `<prefix>-rx`).
    pub prefix: String,
    agent: Option<Child>,
    /// The agent's control address (in tx).
    pub control: SocketAddr,
    /// A scratch directory of the lab (the token file lives here).
    pub dir: PathBuf,
}

impl AgentLab {
    /// Builds the pair and starts `udpflood` (the binary at `udpflood`) as an agent with
    /// `token` and at most `max_rate`; the reason to skip where it cannot.
    pub fn up(
        tag: &str,
        udpflood: &str,
        token: &str,
        max_rate: &str,
    ) -> Result<AgentLab, (skip::Need, String)> {
        if !skip::is_root() {
            return Err((skip::Need::Root, "network namespaces need root".into()));
        }
        if Command::new("ip").arg("-V").output().is_err() {
            return Err((skip::Need::Setup, "iproute2 not installed".into()));
        }
        let n = COUNTER.fetch_add(1, Ordering::Relaxed);
        let prefix = format!("{tag}-{}-{n}", std::process::id());
        let dir = std::env::temp_dir().join(&prefix);
        std::fs::create_dir_all(&dir).unwrap();
        let mut lab = AgentLab { prefix, agent: None, control: "0.0.0.0:0".parse().unwrap(), dir };
        let out = Command::new("bash")
            .arg(netns_script())
            .args(["up", "--name", &lab.prefix])
            .output()
            .map_err(|e| (skip::Need::Setup, format!("running netns.sh: {e}")))?;
        if !out.status.success() {
            let why = String::from_utf8_lossy(&out.stderr).trim().to_string();
            return Err((skip::Need::Root, format!("netns.sh up failed: {why}")));
        }
        std::fs::write(lab.token(), format!("{token}\n")).unwrap();
        let mut child = Command::new("ip")
            .args(["netns", "exec", &lab.ns("tx"), udpflood, "agent"])
            .args(["--control", "198.18.0.1:0", "--token-file"])
            .arg(lab.token())
            .args(["--max-rate", max_rate, "--max-duration", "30s"])
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .expect("start udpflood agent");
        let mut line = String::new();
        BufReader::new(child.stdout.take().unwrap()).read_line(&mut line).unwrap();
        lab.agent = Some(child);
        let addr = line.trim().rsplit(' ').next().unwrap_or("");
        lab.control = addr.parse().unwrap_or_else(|_| panic!("agent's first line: {line:?}"));
        Ok(lab)
    }

    /// The token file the agent was started with.
    pub fn token(&self) -> PathBuf {
        self.dir.join("token")
    }

    /// The name of the `tx` or `rx` namespace.
    pub fn ns(&self, side: &str) -> String {
        format!("{}-{side}", self.prefix)
    }

    /// Runs `f` on a thread inside the rx namespace.
    pub fn in_rx<T: Send + 'static>(&self, f: impl FnOnce() -> T + Send + 'static) -> T {
        let path = format!("/var/run/netns/{}", self.ns("rx"));
        std::thread::spawn(move || {
            let ns = std::fs::File::open(&path).expect("open rx namespace");
            // SAFETY: a valid namespace fd; setns only moves this thread into the rx namespace.
            let rc = unsafe { libc::setns(ns.as_raw_fd(), libc::CLONE_NEWNET) };
            assert_eq!(rc, 0, "setns: {}", std::io::Error::last_os_error());
            f()
        })
        .join()
        .expect("rx namespace thread")
    }
}

fn netns_script() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../scripts/netns.sh")
}

impl Drop for AgentLab {
    fn drop(&mut self) {
        if let Some(mut c) = self.agent.take() {
            // Our own child, by its handle (SIGKILL of `ip netns exec`, which exec'd the agent).
            let _ = c.kill();
            let _ = c.wait();
        }
        let _ = Command::new("bash")
            .arg(netns_script())
            .args(["down", "--name", &self.prefix])
            .output();
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}
