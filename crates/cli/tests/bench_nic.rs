//! `udprx bench --nic`: NIC settings of the receiving interface compared like sysctls.
//!
//! - On the veth topology, `--nic gro=on,off` runs a tiny bench (one path, one paced rate, one
//!   repetition of 300 ms) under both settings: report.json names both, reads each back on the
//!   receiver's veth, compares them with a verdict, and says they were restored; the journal is
//!   gone (every value was back).
//! - A setting veth does not have (coalescing `rx-usecs`; a receive queue's IRQ affinity, as
//!   veth has no interrupts) is refused before anything changed: one line naming the device and
//!   the setting, exit 2, no trial, no journal, no namespace. So are the RSS hash fields and
//!   the RSS indirection table, which a veth does not have ("Operation not supported").
//! - Through a sender agent (`--sender`, two namespaces standing for two hosts) the receive
//!   interface outlives the run: after `--nic gro=on,off` its GRO is what it was before; after
//!   a SIGTERM mid-run too (exit 130); after a SIGKILL, `udprx bench --restore` puts it back
//!   from the journal.
//!
//! - IRQ suspension, `--nic napi.irq-suspend-timeout=0,2000000`: refused before any change on
//!   the bench's own veth (created without GRO, it lists no NAPI instance); through the agent,
//!   with GRO turned on beforehand on the receive interface (so its NAPIs are listed), both
//!   values are compared and the NAPIs' value is put back after the run, and after a SIGKILL by
//!   `--restore`; a forged per-NAPI journal record is refused by `--restore`.
//!
//! - `--sockopt busy_poll=0,50` (per-socket busy polling) is compared the same way: two
//!   settings, each recorded with its SO_BUSY_POLL, with a verdict between them.
//!
//! Needs root and iproute2 (and ethtool); skips visibly otherwise.

#[path = "../../../testsupport/bench_plan.rs"]
mod bench_plan;
#[path = "../../../testsupport/bounded_cmd.rs"]
mod bounded_cmd;
use bounded_cmd::{run, text};
#[path = "../../../testsupport/agent_lab.rs"]
mod agent_lab;
#[path = "../../../testsupport/skip.rs"]
mod skip;

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

const UDPRX: &str = env!("CARGO_BIN_EXE_udprx");
const UDPFLOOD: &str = env!("CARGO_BIN_EXE_udpflood");

fn tmp(name: &str) -> PathBuf {
    std::env::temp_dir().join(format!("udprx-bench-nic-{}-{name}", std::process::id()))
}

fn ready() -> bool {
    if !skip::is_root() {
        skip::skip(skip::Need::Root, "changing NIC settings in network namespaces needs root");
        return false;
    }
    if Command::new("ethtool").arg("--version").output().is_err() {
        skip::skip(skip::Need::Setup, "ethtool not installed (scripts/setup.sh installs it)");
        return false;
    }
    true
}

/// NIC journal files in `dir`.
fn nic_journals(dir: &Path) -> Vec<String> {
    std::fs::read_dir(dir)
        .map(|d| {
            d.filter_map(|e| e.ok())
                .filter_map(|e| e.file_name().into_string().ok())
                .filter(|n| n.starts_with("nic-"))
                .collect()
        })
        .unwrap_or_default()
}

/// Each setting of the report, in order, is `KEY=value` with that value read back in force on
/// the device.
fn assert_in_force(report: &serde_json::Value, key: &str, values: &[&str]) {
    let seen: Vec<(String, String, String)> = report["settings"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| {
            let f = &s["in_force"][key];
            (
                s["name"].as_str().unwrap().to_string(),
                f["value"].as_str().unwrap_or("missing").to_string(),
                f["scope"].as_str().unwrap_or("missing").to_string(),
            )
        })
        .collect();
    let want: Vec<(String, String, String)> = values
        .iter()
        .map(|v| (format!("{key}={v}"), v.to_string(), "device".to_string()))
        .collect();
    assert_eq!(seen, want);
}

/// Checks the report of a `--nic gro=A,B` run: both settings, read back, compared.
fn assert_gro_compared(report: &serde_json::Value, order: [&str; 2]) {
    let settings = report["settings"].as_array().unwrap();
    assert_in_force(report, "nic.gro", &order);
    for s in settings {
        assert_eq!(s["profile"]["nic"].as_array().unwrap().len(), 1, "{s}");
    }
    let series = report["curves"]["series"].as_array().unwrap();
    assert_eq!(series.len(), 2, "one series per setting");
    for s in series {
        let t = &s["points"][0]["trials"][0];
        assert!(t["result"].is_object(), "trial failed: {}", t["error"]);
    }
    let cross = report["verdicts"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|v| v["setting_a"] != v["setting_b"])
        .count();
    assert!(cross >= 1, "no verdict between the settings: {}", report["verdicts"]);
    let notes: Vec<&str> =
        report["notes"].as_array().unwrap().iter().map(|n| n.as_str().unwrap()).collect();
    assert!(
        notes.iter().any(
            |n| n.starts_with("NIC settings (--nic) were applied to") && n.contains("restored")
        ),
        "{notes:?}"
    );
    assert!(!notes.iter().any(|n| n.contains("could not restore")), "{notes:?}");
}

#[test]
fn gro_on_and_off_on_the_receivers_veth_are_compared_and_restored() {
    if !ready() {
        return;
    }
    let out = tmp("gro");
    let journal = tmp("gro-journal");
    let mut cmd = Command::new(UDPRX);
    cmd.env("UDPRX_BENCH_JOURNAL_DIR", &journal)
        .args(["bench", "--topology", "veth"])
        .args(["--methods", "recvmmsg"])
        .args(bench_plan::TINY)
        .args(["--nic", "gro=on,off", "--out"])
        .arg(&out);
    let o = run(cmd, Duration::from_secs(120));
    assert!(o.status.success(), "{}", text(&o));
    let report: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(out.join("report.json")).unwrap()).unwrap();
    assert_gro_compared(&report, ["on", "off"]);
    let md = std::fs::read_to_string(out.join("report.md")).unwrap();
    assert!(md.contains("| NIC setting | value in force | scope |"), "{md}");
    assert!(md.contains("`nic.gro` | off | device"), "{md}");
    assert!(nic_journals(&journal).is_empty(), "every value back: {:?}", nic_journals(&journal));
    let _ = std::fs::remove_dir_all(&out);
    let _ = std::fs::remove_dir_all(&journal);
}

/// `--sockopt busy_poll=0,50` with GRO on the receiver's veth (so it has a NAPI to poll): two
/// settings, each with its SO_BUSY_POLL in the report, compared with a verdict, and the veth's
/// GRO restored (no journal left).
#[test]
fn busy_poll_values_are_compared_as_settings() {
    if !ready() {
        return;
    }
    let out = tmp("busy");
    let journal = tmp("busy-journal");
    let mut cmd = Command::new(UDPRX);
    cmd.env("UDPRX_BENCH_JOURNAL_DIR", &journal)
        .args(["bench", "--topology", "veth"])
        .args(["--methods", "recvmmsg"])
        .args(bench_plan::TINY)
        .args(["--sockopt", "busy_poll=0,50", "--nic", "gro=on", "--out"])
        .arg(&out);
    let o = run(cmd, Duration::from_secs(120));
    assert!(o.status.success(), "{}", text(&o));
    let report: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(out.join("report.json")).unwrap()).unwrap();
    let settings = report["settings"].as_array().unwrap();
    let seen: Vec<(String, serde_json::Value)> = settings
        .iter()
        .map(|s| {
            (s["name"].as_str().unwrap().to_string(), s["profile"]["sockopts"]["busy_poll"].clone())
        })
        .collect();
    assert_eq!(
        seen,
        [
            ("busy_poll=0 nic.gro=on".to_string(), serde_json::json!(0)),
            ("busy_poll=50 nic.gro=on".to_string(), serde_json::json!(50)),
        ]
    );
    for s in report["curves"]["series"].as_array().unwrap() {
        let t = &s["points"][0]["trials"][0];
        assert!(t["result"].is_object(), "trial failed: {}", t["error"]);
    }
    let cross = report["verdicts"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|v| v["setting_a"] != v["setting_b"])
        .count();
    assert!(cross >= 1, "no verdict between the settings: {}", report["verdicts"]);
    let md = std::fs::read_to_string(out.join("report.md")).unwrap();
    assert!(md.contains("SO_BUSY_POLL Some(50)"), "{md}");
    assert!(nic_journals(&journal).is_empty(), "{:?}", nic_journals(&journal));
    let _ = std::fs::remove_dir_all(&out);
    let _ = std::fs::remove_dir_all(&journal);
}

#[test]
fn an_unsupported_setting_is_refused_before_anything_changes() {
    if !ready() {
        return;
    }
    // (--nic argument, the refusal, what it says about the device)
    let cases = [
        (
            "coalesce.rx-usecs=10,20",
            "--nic coalesce.rx-usecs=10 refused before any change",
            "coalescing rx-usecs",
        ),
        ("irq.rx-0=0", "--nic irq.rx-0=0 refused before any change", "rx-0 IRQ affinity: ubr"),
        (
            "rss-hash.udp4=sd,sdfn",
            "--nic rss-hash.udp4=sd refused before any change",
            "RSS hash fields of udp4: ",
        ),
        (
            "rss-indir=equal:1,default",
            "--nic rss-indir=equal:1 refused before any change",
            "RSS indirection table: ",
        ),
        (
            "napi.irq-suspend-timeout=0,2000000",
            "--nic napi.irq-suspend-timeout=0 refused before any change",
            "NAPI irq-suspend-timeout: the device lists no NAPI instance (a veth lists its NAPIs \
             only with GRO or an XDP program on",
        ),
    ];
    for (i, (arg, refusal, about)) in cases.into_iter().enumerate() {
        let out = tmp(&format!("refused-{i}"));
        let journal = tmp(&format!("refused-journal-{i}"));
        let mut cmd = Command::new(UDPRX);
        cmd.env("UDPRX_BENCH_JOURNAL_DIR", &journal)
            .args(["bench", "--topology", "veth"])
            .args(["--methods", "recvmmsg"])
            .args(bench_plan::TINY)
            // GRO first: it would be supported, and must not have been changed either.
            .args(["--nic", "gro=on,off", "--nic", arg, "--out"])
            .arg(&out);
        let o = run(cmd, Duration::from_secs(60));
        assert_eq!(o.status.code(), Some(2), "{}", text(&o));
        let err = String::from_utf8_lossy(&o.stderr);
        let lines: Vec<&str> = err.lines().filter(|l| l.contains("error")).collect();
        assert_eq!(lines.len(), 1, "{err}");
        assert!(lines[0].contains(refusal), "{err}");
        assert!(lines[0].contains(about) && lines[0].contains("ubr"), "{err}");
        if arg.starts_with("rss-") {
            assert!(lines[0].contains("Operation not supported"), "{err}");
        }
        if arg.starts_with("irq.") {
            assert!(
                lines[0].contains("has no per-queue interrupt (veth has no interrupts"),
                "{err}"
            );
        }
        assert!(!out.join("report.json").exists(), "no trial ran");
        assert!(nic_journals(&journal).is_empty(), "nothing was changed, nothing journaled");
        let left: Vec<String> = std::fs::read_dir("/run/netns")
            .map(|d| d.filter_map(|e| e.ok()?.file_name().into_string().ok()).collect())
            .unwrap_or_default();
        assert!(
            !left.iter().any(|n| n.starts_with(&format!("udpb-{}-", bench_pid(&err)))),
            "{left:?}"
        );
        let _ = std::fs::remove_dir_all(&out);
        let _ = std::fs::remove_dir_all(&journal);
    }
}

/// The bench's pid from the interface name in its error (`ubr<pid>n<n>`), or 0.
fn bench_pid(err: &str) -> u32 {
    err.split("ubr")
        .nth(1)
        .and_then(|r| r.split('n').next())
        .and_then(|p| p.parse().ok())
        .unwrap_or(0)
}

/// GRO of `dev` in namespace `ns`, as `ethtool -k` prints it.
fn gro_of(ns: &str, dev: &str) -> String {
    let o = Command::new("ip").args(["netns", "exec", ns, "ethtool", "-k", dev]).output().unwrap();
    String::from_utf8_lossy(&o.stdout)
        .lines()
        .find_map(|l| {
            l.trim().strip_prefix("generic-receive-offload:").map(|v| v.trim().to_string())
        })
        .unwrap_or_default()
}

#[test]
fn through_an_agent_the_receive_interface_is_restored_after_the_run() {
    if !ready() {
        return;
    }
    let lab = match agent_lab::AgentLab::up("ubn", UDPFLOOD, "bench-nic-token", "200k") {
        Ok(l) => l,
        Err((need, reason)) => return skip::skip(need, &reason),
    };
    let rx = lab.ns("rx");
    let before = gro_of(&rx, "veth-rx");
    assert!(before == "on" || before == "off", "{before:?}");
    // The other value last: the run ends with GRO changed, and must put it back.
    let other = if before == "on" { "off" } else { "on" };
    let out = lab.dir.join("report");
    let journal = lab.dir.join("journal");
    let mut cmd = Command::new("ip");
    cmd.args(["netns", "exec", &rx, UDPRX])
        .env("UDPRX_BENCH_JOURNAL_DIR", &journal)
        .args(["bench", "--sender", &lab.control.to_string(), "--token-file"])
        .arg(lab.token())
        .args(["--methods", "recvmmsg"])
        .args(bench_plan::TINY)
        .arg("--nic")
        .arg(format!("gro={before},{other}"))
        .arg("--out")
        .arg(&out);
    let o = run(cmd, Duration::from_secs(120));
    assert!(o.status.success(), "{}", text(&o));
    let report: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(out.join("report.json")).unwrap()).unwrap();
    assert_eq!(report["topology"]["kind"], "remote");
    assert_gro_compared(&report, [before.as_str(), other]);
    assert_eq!(gro_of(&rx, "veth-rx"), before, "GRO of the receive interface put back");
    assert!(nic_journals(&journal).is_empty(), "{:?}", nic_journals(&journal));
}

/// NIC journal files of `dir` whose pid is `pid`.
fn journals_of(dir: &Path, pid: u32) -> Vec<String> {
    nic_journals(dir).into_iter().filter(|n| n.starts_with(&format!("nic-{pid}-"))).collect()
}

/// Starts the bench through the agent with `gro={other}` on the rx namespace's veth-rx and
/// long trials, and waits until its NIC journal exists (GRO changed); returns the child (the
/// `ip netns exec` that exec'd udprx: its pid is udprx's).
fn start_changing_gro(
    lab: &agent_lab::AgentLab,
    journal: &Path,
    other: &str,
) -> std::process::Child {
    let mut cmd = Command::new("ip");
    cmd.args(["netns", "exec", &lab.ns("rx"), UDPRX])
        .env("UDPRX_BENCH_JOURNAL_DIR", journal)
        .args(["bench", "--sender", &lab.control.to_string(), "--token-file"])
        .arg(lab.token())
        .args(["--methods", "recvmmsg", "--scenarios", "classic", "--fanout", "one"])
        .args(["--rate", "20k", "--reps", "20", "--max-reps", "20", "--secs", "2s"])
        .arg("--nic")
        .arg(format!("gro={other}"))
        .arg("--out")
        .arg(lab.dir.join("report"))
        .stdout(Stdio::null())
        .stderr(Stdio::null());
    let child = cmd.spawn().expect("spawn the bench");
    let t0 = Instant::now();
    while journals_of(journal, child.id()).is_empty() {
        assert!(t0.elapsed() < Duration::from_secs(30), "the bench never changed GRO");
        std::thread::sleep(Duration::from_millis(50));
    }
    child
}

/// The agent lab `prefix` (sender agent and receiver namespaces); `None` (a counted skip) where
/// it cannot come up.
fn agent_lab_up(prefix: &str) -> Option<agent_lab::AgentLab> {
    if !ready() {
        return None;
    }
    let lab = match agent_lab::AgentLab::up(prefix, UDPFLOOD, "bench-nic-token", "200k") {
        Ok(l) => l,
        Err((need, reason)) => {
            skip::skip(need, &reason);
            return None;
        }
    };
    Some(lab)
}

/// A bench through the agent that has flipped GRO on the rx namespace's veth-rx (the lab lives
/// as long as this does).
struct GroFlip {
    _lab: agent_lab::AgentLab,
    rx: String,
    before: String,
    other: &'static str,
    journal: std::path::PathBuf,
    child: std::process::Child,
}

/// Brings up the agent lab `prefix` and starts [`start_changing_gro`] with GRO flipped; `None`
/// (a counted skip) where the lab cannot come up.
fn flip_gro(prefix: &str) -> Option<GroFlip> {
    let lab = agent_lab_up(prefix)?;
    let rx = lab.ns("rx");
    let before = gro_of(&rx, "veth-rx");
    let other = if before == "on" { "off" } else { "on" };
    let journal = lab.dir.join("journal");
    let child = start_changing_gro(&lab, &journal, other);
    Some(GroFlip { _lab: lab, rx, before, other, journal, child })
}

#[test]
fn sigterm_mid_run_puts_the_receive_interface_back() {
    let Some(GroFlip { _lab, rx, before, other, journal, mut child }) = flip_gro("ubs") else {
        return;
    };
    assert_eq!(gro_of(&rx, "veth-rx"), other, "the setting is in force");
    // SAFETY: kill on the pid of our own child.
    unsafe { libc::kill(child.id() as i32, libc::SIGTERM) };
    let t0 = Instant::now();
    let status = loop {
        if let Some(s) = child.try_wait().unwrap() {
            break s;
        }
        assert!(t0.elapsed() < Duration::from_secs(60), "the bench did not stop on SIGTERM");
        std::thread::sleep(Duration::from_millis(50));
    };
    assert_eq!(status.code(), Some(130), "interrupted: partial report");
    assert_eq!(gro_of(&rx, "veth-rx"), before, "GRO put back on SIGTERM");
    assert!(journals_of(&journal, child.id()).is_empty());
}

#[test]
fn after_a_sigkill_restore_puts_the_receive_interface_back() {
    let Some(GroFlip { _lab, rx, before, other, journal, mut child }) = flip_gro("ubk") else {
        return;
    };
    let pid = child.id();
    child.kill().unwrap(); // SIGKILL: no guard runs
    child.wait().unwrap();
    assert_eq!(gro_of(&rx, "veth-rx"), other, "a killed run leaves GRO changed");
    assert_eq!(journals_of(&journal, pid).len(), 1, "and its journal");
    let mut cmd = Command::new("ip");
    cmd.args(["netns", "exec", &rx, UDPRX])
        .env("UDPRX_BENCH_JOURNAL_DIR", &journal)
        .args(["bench", "--restore"]);
    let o = run(cmd, Duration::from_secs(30));
    assert!(o.status.success(), "{}", text(&o));
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(
        err.contains(&format!(
            "restored NIC setting veth-rx gro = {before} left changed by a killed run (pid {pid}); it was {other}"
        )),
        "{err}"
    );
    assert_eq!(gro_of(&rx, "veth-rx"), before, "GRO put back by --restore");
    assert!(journals_of(&journal, pid).is_empty());
}

#[test]
fn threaded_napi_is_refused_before_any_change_where_the_veth_has_no_napi() {
    if !ready() {
        return;
    }
    let out = tmp("threaded");
    let journal = tmp("threaded-journal");
    let mut cmd = Command::new(UDPRX);
    cmd.env("UDPRX_BENCH_JOURNAL_DIR", &journal)
        .args(["bench", "--topology", "veth"])
        .args(["--methods", "recvmmsg"])
        .args(bench_plan::TINY)
        .args(["--nic", "threaded=0,1", "--out"])
        .arg(&out);
    let o = run(cmd, Duration::from_secs(120));
    if o.status.success() {
        // A kernel that runs a veth without GRO or XDP threaded: both values compared.
        let report: serde_json::Value =
            serde_json::from_str(&std::fs::read_to_string(out.join("report.json")).unwrap())
                .unwrap();
        let values: Vec<&str> = report["settings"]
            .as_array()
            .unwrap()
            .iter()
            .map(|s| s["in_force"]["nic.threaded"]["value"].as_str().unwrap())
            .collect();
        assert_eq!(values, ["0", "1"]);
    } else {
        // Linux 6.18: a veth without NAPI refuses even its current value ("Operation not
        // supported"); the probe finds that before anything changed.
        assert_eq!(o.status.code(), Some(2), "{}", text(&o));
        let err = String::from_utf8_lossy(&o.stderr);
        let lines: Vec<&str> = err.lines().filter(|l| l.contains("error")).collect();
        assert_eq!(lines.len(), 1, "{err}");
        assert!(
            lines[0].contains("refused before any change") && lines[0].contains("threaded NAPI")
        );
        assert!(!err.contains("could not restore"), "{err}");
        assert!(nic_journals(&journal).is_empty());
    }
    let _ = std::fs::remove_dir_all(&out);
    let _ = std::fs::remove_dir_all(&journal);
}

/// The per-NAPI `irq-suspend-timeout` of `dev` in the lab's rx namespace, as the bench reads it
/// (one value when every NAPI has it).
fn suspend_of(lab: &agent_lab::AgentLab, dev: &'static str) -> String {
    lab.in_rx(move || {
        let none = udprx_netdev::settings::EthtoolBinary;
        let s = udprx_netdev::Settings { sys: udprx_netdev::Sys::live(), ethtool: &none };
        let setting =
            udprx_netdev::Setting::Napi { dev: dev.into(), param: "irq-suspend-timeout".into() };
        s.read(&setting).unwrap_or_else(|e| format!("unreadable: {e}"))
    })
}

/// Sets the per-NAPI `irq-suspend-timeout` of `dev` in the lab's rx namespace.
fn set_suspend(lab: &agent_lab::AgentLab, dev: &'static str, value: &'static str) {
    lab.in_rx(move || {
        let none = udprx_netdev::settings::EthtoolBinary;
        let s = udprx_netdev::Settings { sys: udprx_netdev::Sys::live(), ethtool: &none };
        let setting =
            udprx_netdev::Setting::Napi { dev: dev.into(), param: "irq-suspend-timeout".into() };
        s.apply(&setting, value).unwrap();
    })
}

/// The agent lab `prefix` with GRO on the rx veth (so it lists its NAPIs) and each NAPI's
/// irq-suspend-timeout at 12345 ns (a before value no setting uses); `None` (a counted skip)
/// where the lab cannot come up or the kernel has no IRQ suspension.
fn napi_lab(prefix: &str) -> Option<agent_lab::AgentLab> {
    let lab = agent_lab_up(prefix)?;
    let rx = lab.ns("rx");
    let o = Command::new("ip")
        .args(["netns", "exec", &rx, "ethtool", "-K", "veth-rx", "gro", "on"])
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let now = suspend_of(&lab, "veth-rx");
    if now.contains("IRQ suspension needs Linux 6.13+") {
        skip::skip(skip::Need::Setup, "this kernel has no IRQ suspension (Linux 6.13+)");
        return None;
    }
    assert_eq!(now, "0", "{now}");
    set_suspend(&lab, "veth-rx", "12345");
    assert_eq!(suspend_of(&lab, "veth-rx"), "12345");
    Some(lab)
}

#[test]
fn irq_suspend_timeout_through_an_agent_is_compared_and_restored() {
    let Some(lab) = napi_lab("ubi") else { return };
    let out = lab.dir.join("report");
    let journal = lab.dir.join("journal");
    let mut cmd = Command::new("ip");
    cmd.args(["netns", "exec", &lab.ns("rx"), UDPRX])
        .env("UDPRX_BENCH_JOURNAL_DIR", &journal)
        .args(["bench", "--sender", &lab.control.to_string(), "--token-file"])
        .arg(lab.token())
        .args(["--methods", "recvmmsg"])
        .args(bench_plan::TINY)
        .args(["--nic", "napi.irq-suspend-timeout=0,2000000", "--out"])
        .arg(&out);
    let o = run(cmd, Duration::from_secs(120));
    assert!(o.status.success(), "{}", text(&o));
    let report: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(out.join("report.json")).unwrap()).unwrap();
    assert_in_force(&report, "nic.napi.irq-suspend-timeout", &["0", "2000000"]);
    for s in report["curves"]["series"].as_array().unwrap() {
        let t = &s["points"][0]["trials"][0];
        assert!(t["result"].is_object(), "trial failed: {}", t["error"]);
    }
    let notes: Vec<&str> =
        report["notes"].as_array().unwrap().iter().map(|n| n.as_str().unwrap()).collect();
    assert!(
        notes.iter().any(
            |n| n.starts_with("NIC settings (--nic) were applied to") && n.contains("restored")
        ),
        "{notes:?}"
    );
    let md = std::fs::read_to_string(out.join("report.md")).unwrap();
    assert!(md.contains("`nic.napi.irq-suspend-timeout` | 2000000 | device"), "{md}");
    assert_eq!(suspend_of(&lab, "veth-rx"), "12345", "every NAPI's value put back");
    assert!(nic_journals(&journal).is_empty(), "{:?}", nic_journals(&journal));
}

#[test]
fn after_a_sigkill_restore_puts_the_napi_values_back_and_refuses_a_forged_record() {
    let Some(lab) = napi_lab("ubj") else { return };
    let journal = lab.dir.join("journal");
    let mut cmd = Command::new("ip");
    cmd.args(["netns", "exec", &lab.ns("rx"), UDPRX])
        .env("UDPRX_BENCH_JOURNAL_DIR", &journal)
        .args(["bench", "--sender", &lab.control.to_string(), "--token-file"])
        .arg(lab.token())
        .args(["--methods", "recvmmsg", "--scenarios", "classic", "--fanout", "one"])
        .args(["--rate", "20k", "--reps", "20", "--max-reps", "20", "--secs", "2s"])
        .args(["--nic", "napi.irq-suspend-timeout=2000000", "--out"])
        .arg(lab.dir.join("report"))
        .stdout(Stdio::null())
        .stderr(Stdio::null());
    let mut child = cmd.spawn().expect("spawn the bench");
    let pid = child.id();
    let t0 = Instant::now();
    while journals_of(&journal, pid).is_empty() || suspend_of(&lab, "veth-rx") != "2000000" {
        assert!(t0.elapsed() < Duration::from_secs(30), "the bench never set the NAPIs");
        std::thread::sleep(Duration::from_millis(50));
    }
    child.kill().unwrap(); // SIGKILL: no guard runs
    child.wait().unwrap();
    assert_eq!(suspend_of(&lab, "veth-rx"), "2000000", "a killed run leaves the value");
    let restore = |journal: &Path| {
        let mut cmd = Command::new("ip");
        cmd.args(["netns", "exec", &lab.ns("rx"), UDPRX])
            .env("UDPRX_BENCH_JOURNAL_DIR", journal)
            .args(["bench", "--restore"]);
        run(cmd, Duration::from_secs(30))
    };
    let o = restore(&journal);
    assert!(o.status.success(), "{}", text(&o));
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(
        err.contains("restored NIC setting veth-rx NAPI irq-suspend-timeout = ")
            && err.contains(&format!("left changed by a killed run (pid {pid}); it was 2000000")),
        "{err}"
    );
    assert_eq!(suspend_of(&lab, "veth-rx"), "12345", "put back by --restore");
    assert!(journals_of(&journal, pid).is_empty());

    // A forged record: values that are not ID:VALUE pairs. Refused, nothing written, kept.
    let forged_dir = lab.dir.join("forged");
    std::fs::create_dir_all(&forged_dir).unwrap();
    let forged = forged_dir.join("nic-4194305-0.json");
    std::fs::write(
        &forged,
        r#"{"schema":"udprx-bench-journal/1","pid":4194305,"start_ticks":null,"nic":[{"netns":null,"record":{"setting":{"kind":"napi","dev":"veth-rx","param":"irq-suspend-timeout"},"before":"1;2","after":"0"}}]}"#,
    )
    .unwrap();
    let o = restore(&forged_dir);
    assert!(!o.status.success(), "{}", text(&o));
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(err.contains("refused") && err.contains("veth-rx NAPI irq-suspend-timeout"), "{err}");
    assert!(forged.exists(), "a refused journal is kept");
    assert_eq!(suspend_of(&lab, "veth-rx"), "12345", "nothing written");
}
