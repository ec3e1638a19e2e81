//! `udprx bench` end to end: the quick curves on loopback (report, Answer, livelock charts,
//! `udprx compare`), bad input, and (as root) the veth topology, its removal on a normal end and
//! on Ctrl-C, kernel settings and peers.

#[path = "../../../testsupport/bench_plan.rs"]
mod bench_plan;
#[path = "../../../testsupport/bounded_cmd.rs"]
mod bounded_cmd;
use bounded_cmd::{run, text};
#[path = "../../../testsupport/rx_common.rs"]
mod common;

use common::{Need, root_or_skip, skip, skip_part};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

fn udprx() -> Command {
    Command::new(env!("CARGO_BIN_EXE_udprx"))
}

fn tmp(name: &str) -> PathBuf {
    std::env::temp_dir().join(format!("udprx-bench-it-{}-{name}", std::process::id()))
}

fn read_report(dir: &Path) -> serde_json::Value {
    let text = std::fs::read_to_string(dir.join("report.json")).expect("report.json");
    serde_json::from_str(&text).expect("report.json parses")
}

/// Namespaces this harness created for process `pid` that still exist.
fn namespaces_of(pid: u32) -> Vec<String> {
    let prefix = format!("udpb-{pid}-");
    std::fs::read_dir("/run/netns")
        .map(|d| {
            d.filter_map(|e| e.ok())
                .filter_map(|e| e.file_name().into_string().ok())
                .filter(|n| n.starts_with(&prefix))
                .collect()
        })
        .unwrap_or_default()
}

fn series(report: &serde_json::Value) -> &Vec<serde_json::Value> {
    report["curves"]["series"].as_array().expect("curves.series")
}

/// Every series ran, every trial that ran has a result, and the headline figure exists.
fn assert_series_measured(report: &serde_json::Value, min_series: usize) {
    let all = series(report);
    assert!(all.len() >= min_series, "only {} series", all.len());
    for s in all {
        let label = s["label"].as_str().unwrap();
        let points = s["points"].as_array().unwrap();
        assert!(!points.is_empty(), "{label}: no points");
        for p in points {
            for t in p["trials"].as_array().unwrap() {
                let res = &t["result"];
                assert!(res.is_object(), "{label}: trial failed: {}", t["error"]);
                assert!(res["rx_pps"].as_f64().unwrap() > 0.0, "{label}: rx_pps is 0");
                assert!(res["sent"].as_u64().unwrap() > 0, "{label}: nothing sent");
                assert!(res["lost"].is_u64(), "{label}: no loss figure");
                assert!(res["kernel_drops"].is_u64(), "{label}: no drop figure");
            }
        }
        assert!(s["figures"]["peak"]["est"].as_f64().unwrap() > 0.0, "{label}: no peak");
    }
}

#[test]
fn quick_on_loopback_writes_a_full_report() {
    let out = tmp("quick");
    let mut cmd = udprx();
    // Simulates a non-root user: the default must fall back to loopback and say so. The
    // budget is hard (no trial starts past it): 60 s leaves room for every stage here.
    cmd.env("UDPRX_BENCH_NOT_ROOT", "1")
        .args(["bench", "--quick", "--secs", "300ms", "--budget", "60s", "--out"])
        .arg(&out);
    let o = run(cmd, Duration::from_secs(240));
    assert!(o.status.success(), "{}", text(&o));
    let stderr = String::from_utf8_lossy(&o.stderr);
    let report = read_report(&out);
    assert_eq!(report["schema"], "udprx-bench/3");
    assert_eq!(report["topology"]["kind"], "loopback");
    assert!(report["topology"]["bound"].as_str().unwrap().contains("sender-bound"));
    assert_series_measured(&report, 3);
    // One progress line per trial, every stage of the procedure ran.
    let trials = report["curves"]["trials"].as_u64().unwrap() as usize;
    let lines = stderr.lines().filter(|l| l.contains(" [") && l.contains("pps")).count();
    assert_eq!(lines, trials, "{stderr}");
    for stage in ["ceiling [", "curve [", "repeat [", "search ["] {
        assert!(stderr.lines().any(|l| l.starts_with(stage)), "no {stage} line: {stderr}");
    }
    let labels: Vec<&str> = series(&report).iter().map(|s| s["label"].as_str().unwrap()).collect();
    for m in ["recvfrom", "recvmmsg", "uring"] {
        assert!(labels.iter().any(|l| l.contains(m)), "no {m} series in {labels:?}");
    }
    for s in series(&report) {
        let label = s["label"].as_str().unwrap();
        let points = s["points"].as_array().unwrap();
        // The unpaced point and at least the four grid rates.
        assert!(points.iter().any(|p| p["rate"].is_null()), "{label}: no unpaced point");
        assert!(points.iter().filter(|p| p["rate"].is_u64()).count() >= 4, "{label}");
        let f = &s["figures"];
        assert!(f["livelock_ratio"].as_f64().unwrap() > 0.0, "{label}: {f}");
        assert!(f["ndr"]["lo"].is_u64() || f["ndr"]["bound"] == "below_min", "{label}: {f}");
        assert!(f["app_ns"]["est"].as_f64().unwrap() > 0.0, "{label}: {f}");
    }
    // Pairwise verdicts with the call in words.
    let verdicts = report["verdicts"].as_array().unwrap();
    assert!(verdicts.len() >= 3, "{verdicts:?}");
    for v in verdicts {
        assert!(["faster", "slower", "indistinguishable"].contains(&v["call"].as_str().unwrap()));
    }
    // The per-trial receiver report is the shared udprx schema.
    let trial = &series(&report)[0]["points"][0]["trials"][0]["result"];
    assert!(trial["receiver_report"]["schema"].as_str().unwrap().starts_with("udprx-report/"));
    assert!(trial["sender_report"]["packets"].as_u64().unwrap() > 0);
    assert!(trial["noise"].is_object(), "no noise record: {}", trial["noise"]);
    let md = std::fs::read_to_string(out.join("report.md")).unwrap();
    for needle in [
        "## Answer",
        "Classic flood",
        "What limited the run",
        "## Environment",
        "kernel",
        "git revision",
        "## Results",
        "### Verdicts",
        "sender-bound",
        "livelock-classic.svg",
        "Noise floor",
    ] {
        assert!(md.contains(needle), "report.md lacks {needle:?}");
    }
    // The Answer opens the report.
    assert!(md.find("## Answer").unwrap() < md.find("## Results").unwrap());
    for svg in ["livelock-classic.svg", "overload-classic.svg", "pps-classic.svg", "latency.svg"] {
        let s = std::fs::read_to_string(out.join(svg)).unwrap();
        assert!(s.starts_with("<svg") && s.len() > 1000, "{svg}");
    }
    let stdout = String::from_utf8_lossy(&o.stdout);
    assert!(stdout.contains("Answer") && stdout.contains("report.json"), "{stdout}");

    // The run compared with itself: every figure is a tie.
    let mut cmd = udprx();
    cmd.args(["compare"]).arg(&out).arg(out.join("report.json"));
    let c = run(cmd, Duration::from_secs(30));
    assert!(c.status.success(), "{}", text(&c));
    let ctext = String::from_utf8_lossy(&c.stdout);
    assert!(ctext.contains("indistinguishable here"), "{ctext}");
    assert!(!ctext.contains("faster") && !ctext.contains("slower"), "{ctext}");
    assert!(!ctext.contains("differ"), "same run, no differences: {ctext}");
    // Re-deriving the saved run's conclusions gives the same verdicts.
    let mut cmd = udprx();
    cmd.args(["render"]).arg(&out).arg("--out").arg(out.join("again"));
    let r = run(cmd, Duration::from_secs(30));
    assert!(r.status.success(), "{}", text(&r));
    let again = read_report(&out.join("again"));
    assert_eq!(again["verdicts"], report["verdicts"]);
    assert_eq!(again["answer"], report["answer"]);
    assert!(out.join("again/livelock-classic.svg").is_file());

    // A shared report is outside input: the control characters, OSC/CSI sequences, bidi
    // overrides and newlines of its strings reach neither the terminal nor report.md raw.
    let evil = "\u{1b}]0;pwned\u{7}\u{1b}[2J\u{9b}31m\u{202e}gnp.exe\n## injected heading";
    let mut forged = report.clone();
    forged["env"]["kernel"] = evil.into();
    forged["env"]["cpu_model"] = evil.into();
    forged["env"]["hostname"] = evil.into();
    forged["notes"].as_array_mut().unwrap().push(evil.into());
    forged["settings"][0]["name"] = evil.into();
    for s in forged["curves"]["series"].as_array_mut().unwrap() {
        s["label"] = format!("{}{evil}", s["label"].as_str().unwrap()).into();
    }
    let fdir = out.join("forged");
    std::fs::create_dir_all(&fdir).unwrap();
    std::fs::write(fdir.join("report.json"), forged.to_string()).unwrap();
    let raw = |s: &str| s.chars().any(|c| c != '\n' && udpctl::text::is_unsafe(c));
    let injected = |s: &str| s.lines().any(|l| l.starts_with("## injected"));
    let mut cmd = udprx();
    cmd.args(["render"]).arg(&fdir).arg("--out").arg(fdir.join("r"));
    let r = run(cmd, Duration::from_secs(30));
    assert!(r.status.success(), "{}", text(&r));
    let md = std::fs::read_to_string(fdir.join("r/report.md")).unwrap();
    for (what, s) in [("render stdout", text(&r)), ("report.md", md)] {
        assert!(!raw(&s) && !injected(&s), "{what} carries the report's raw text: {s:?}");
        assert!(s.contains("\\x1b]0;pwned"), "{what}: escaped form missing");
    }
    let mut cmd = udprx();
    cmd.args(["compare"]).arg(&out).arg(&fdir);
    let c = run(cmd, Duration::from_secs(30));
    let ctext = text(&c);
    assert!(!raw(&ctext) && !injected(&ctext), "compare prints raw text: {ctext:?}");
    std::fs::remove_dir_all(&out).unwrap();
}

#[test]
fn compare_rejects_bad_files() {
    let dir = tmp("compare-bad");
    std::fs::create_dir_all(&dir).unwrap();
    let junk = dir.join("junk.json");
    std::fs::write(&junk, b"{not json").unwrap();
    let old = dir.join("old.json");
    std::fs::write(&old, br#"{"schema": "udprx-bench/1"}"#).unwrap();
    for (a, reason) in [
        (dir.join("missing.json"), "No such file"),
        (junk.clone(), "not JSON"),
        (old.clone(), "udprx-bench/1"),
    ] {
        let mut cmd = udprx();
        cmd.arg("compare").arg(&a).arg(&a);
        let o = run(cmd, Duration::from_secs(30));
        assert_eq!(o.status.code(), Some(2), "{}", text(&o));
        assert!(String::from_utf8_lossy(&o.stderr).contains(reason), "{}", text(&o));
    }
    std::fs::remove_dir_all(&dir).unwrap();
}

fn assert_bad_input(args: &[&str], env_not_root: bool, reason: &str) {
    let out = tmp(&format!("bad-{}", reason.replace(' ', "_")));
    let mut cmd = udprx();
    if env_not_root {
        cmd.env("UDPRX_BENCH_NOT_ROOT", "1");
    }
    cmd.arg("bench").args(args);
    if !args.contains(&"--out") {
        cmd.arg("--out").arg(&out);
    }
    let child_out = run(cmd, Duration::from_secs(60));
    assert_eq!(child_out.status.code(), Some(2), "{args:?}: {}", text(&child_out));
    let stderr = String::from_utf8_lossy(&child_out.stderr);
    assert!(stderr.contains(reason), "{args:?}: stderr lacks {reason:?}: {stderr}");
    assert!(!out.exists(), "{args:?}: output directory created");
}

#[test]
fn bad_input_exits_2_and_leaves_nothing() {
    assert_bad_input(&["--methods", "select"], false, "unknown method");
    assert_bad_input(&["--sockopt", "prefer_busy_poll=2"], false, "expected 0 or 1");
    assert_bad_input(&["--sockopt", "busy_poll_budget=70000"], false, "0 to 65535");
    assert_bad_input(
        &["--methods", "uring", "--scenarios", "gso", "--fanout", "hash"],
        false,
        "no path to run",
    );
    assert_bad_input(&["--rate", "0"], false, "positive");
    assert_bad_input(&["--rate", "fast"], false, "rate");
    assert_bad_input(&["--ci-target", "2"], false, "ci-target");
    assert_bad_input(&["--reps", "4", "--max-reps", "2"], false, "max-reps");
    assert_bad_input(&["--baseline", "/nonexistent/report.json"], false, "No such file");
    assert_bad_input(&["--sysctl", "net.core.no_such_knob=1,2"], false, "unknown sysctl");
    assert_bad_input(&["--topology", "veth"], true, "needs root");
    assert_bad_input(&["--topology", "ethernet"], false, "unknown topology");
    assert_bad_input(&["--latency-at", "2"], false, "latency-at");
    let file = tmp("a-file");
    std::fs::write(&file, b"x").unwrap();
    let under = file.join("out");
    assert_bad_input(&["--out", under.to_str().unwrap()], false, "output directory");
    assert!(!under.exists());
    std::fs::remove_file(&file).unwrap();
}

#[test]
fn veth_topology_is_used_and_removed() {
    if !root_or_skip("the veth topology") {
        return;
    }
    let out = tmp("veth");
    let mut cmd = udprx();
    cmd.args([
        "bench",
        "--topology",
        "veth",
        "--quick",
        "--methods",
        "recvmmsg",
        "--fanout",
        "one,hash",
        "--secs",
        "300ms",
        "--budget",
        "5s",
        "--out",
    ])
    .arg(&out);
    let o = run(cmd, Duration::from_secs(180));
    assert!(o.status.success(), "{}", text(&o));
    let report = read_report(&out);
    assert_eq!(report["topology"]["kind"], "veth");
    assert_eq!(report["topology"]["rps"], true);
    assert_eq!(report["topology"]["rx_addr"], "198.18.0.2");
    assert_series_measured(&report, 1);
    // Fan-out runs only with a free core per socket besides the sender's; otherwise it is
    // reported as not measurable, with the cores it needs.
    let cores = report["env"]["usable_cores"].as_array().unwrap().len();
    let skipped = report["plan"]["skipped"].as_array().unwrap();
    if cores < 3 {
        assert!(
            skipped
                .iter()
                .any(|s| s["reason"].as_str().unwrap().contains("not measurable on this host")),
            "{skipped:?}"
        );
        let md = std::fs::read_to_string(out.join("report.md")).unwrap();
        assert!(md.contains("Not measurable on this host"), "{md}");
    } else {
        assert_series_measured(&report, 2);
    }
    // Inside the namespace the receiving side's counters are exact: they saw the datagrams.
    // (The first trial that has a result: under a loaded CI a trial can fail and be recorded
    // without one, which the report shows and this test does not judge.)
    let cell = series(&report)[0]["points"]
        .as_array()
        .unwrap()
        .iter()
        .flat_map(|p| p["trials"].as_array().unwrap())
        .map(|t| &t["result"])
        .find(|r| !r.is_null())
        .expect("a trial with a result");
    assert!(cell["snmp"]["in_datagrams"].as_u64().unwrap() > 0, "{cell}");
    let veth = &report["topology"]["veth"];
    for key in ["tx_ns", "rx_ns"] {
        let ns = veth[key].as_str().unwrap();
        assert!(!Path::new("/run/netns").join(ns).exists(), "namespace {ns} left behind");
    }
    let links = Command::new("ip").args(["-o", "link"]).output().unwrap();
    let links = String::from_utf8_lossy(&links.stdout);
    for key in ["tx_if", "rx_if"] {
        let name = veth[key].as_str().unwrap();
        assert!(!links.contains(name), "link {name} left behind");
    }
    std::fs::remove_dir_all(&out).unwrap();
}

#[test]
fn ctrl_c_removes_the_topology_and_still_reports() {
    if !root_or_skip("the veth topology") {
        return;
    }
    let out = tmp("sigint");
    let mut child = udprx()
        .args([
            "bench",
            "--topology",
            "veth",
            "--methods",
            "recvmmsg,recvfrom",
            "--scenarios",
            "classic",
            "--fanout",
            "one",
            "--secs",
            "2s",
            "--out",
        ])
        .arg(&out)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let pid = child.id();
    let deadline = Instant::now() + Duration::from_secs(60);
    while namespaces_of(pid).is_empty() {
        assert!(Instant::now() < deadline, "namespaces never appeared");
        assert!(child.try_wait().unwrap().is_none(), "exited before building the topology");
        std::thread::sleep(Duration::from_millis(50));
    }
    // Mid-cell.
    std::thread::sleep(Duration::from_millis(1500));
    // SAFETY: kill on the pid of our own child.
    unsafe { libc::kill(pid as i32, libc::SIGINT) };
    let deadline = Instant::now() + Duration::from_secs(60);
    let status = loop {
        if let Some(s) = child.try_wait().unwrap() {
            break s;
        }
        if Instant::now() > deadline {
            let _ = child.kill();
            panic!("udprx bench did not stop after SIGINT");
        }
        std::thread::sleep(Duration::from_millis(50));
    };
    assert_eq!(status.code(), Some(130), "interrupted runs exit 130");
    assert!(namespaces_of(pid).is_empty(), "left behind: {:?}", namespaces_of(pid));
    let report = read_report(&out);
    assert_eq!(report["curves"]["interrupted"], true);
    std::fs::remove_dir_all(&out).unwrap();
}

fn sysctl(key: &str) -> String {
    let p = Path::new("/proc/sys").join(key.replace('.', "/"));
    std::fs::read_to_string(p).unwrap().trim().to_string()
}

#[test]
fn sysctl_settings_are_applied_recorded_and_restored() {
    if !root_or_skip("writing sysctls") {
        return;
    }
    let host_rmem_min = sysctl("net.ipv4.udp_rmem_min");
    let host_backlog = sysctl("net.core.netdev_max_backlog");
    let other_backlog = if host_backlog == "1500" { "1400" } else { "1500" };
    let out = tmp("sysctl");
    let mut cmd = udprx();
    cmd.args([
        "bench",
        "--topology",
        "veth",
        "--methods",
        "recvmmsg",
        "--sysctl",
        "net.ipv4.udp_rmem_min=4096,8192",
    ])
    .args(bench_plan::TINY)
    .arg("--sysctl")
    .arg(format!("net.core.netdev_max_backlog={host_backlog},{other_backlog}"))
    .arg("--out")
    .arg(&out);
    let o = run(cmd, Duration::from_secs(120));
    assert!(o.status.success(), "{}", text(&o));
    let report = read_report(&out);
    let settings = report["settings"].as_array().unwrap();
    assert_eq!(settings.len(), 4);
    let mut seen = std::collections::BTreeSet::new();
    for s in settings {
        let rmem = &s["in_force"]["net.ipv4.udp_rmem_min"];
        let backlog = &s["in_force"]["net.core.netdev_max_backlog"];
        assert_eq!(rmem["scope"], "namespace", "{s}");
        assert_eq!(backlog["scope"], "global", "{s}");
        seen.insert((
            rmem["value"].as_str().unwrap().to_string(),
            backlog["value"].as_str().unwrap().to_string(),
        ));
    }
    assert_eq!(seen.len(), 4, "{seen:?}");
    assert!(seen.contains(&("8192".to_string(), other_backlog.to_string())));
    // Results side by side: one series per setting, each setting compared with the first.
    assert_eq!(series(&report).len(), 4);
    assert_series_measured(&report, 4);
    let cross = report["verdicts"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|v| v["setting_a"] != v["setting_b"])
        .count();
    assert!(cross >= 3, "no setting verdicts: {}", report["verdicts"]);
    let md = std::fs::read_to_string(out.join("report.md")).unwrap();
    assert!(md.contains("Kernel settings"), "{md}");
    // The host's values are what they were.
    assert_eq!(sysctl("net.ipv4.udp_rmem_min"), host_rmem_min);
    assert_eq!(sysctl("net.core.netdev_max_backlog"), host_backlog);
    std::fs::remove_dir_all(&out).unwrap();
}

/// `--methods epoll` with `--sockopt prefer_busy_poll=0,1` and epoll busy polling (busy_poll 50
/// on a veth with GRO, so it has a NAPI to poll): one series per setting, each trial's receiver
/// set up as asked and the epoll instance's parameters read back.
#[test]
fn epoll_rows_compare_prefer_busy_poll() {
    if !root_or_skip("the veth topology and SO_PREFER_BUSY_POLL") {
        return;
    }
    let out = tmp("epoll");
    let mut cmd = udprx();
    cmd.args([
        "bench",
        "--topology",
        "veth",
        "--methods",
        "epoll",
        "--nic",
        "gro=on",
        "--sockopt",
        "busy_poll=50",
        "--sockopt",
        "prefer_busy_poll=0,1",
        "--peers",
    ])
    .args(bench_plan::TINY)
    .arg("--out")
    .arg(&out);
    let o = run(cmd, Duration::from_secs(180));
    assert!(o.status.success(), "{}", text(&o));
    let report = read_report(&out);
    let names: Vec<&str> = report["settings"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s["name"].as_str().unwrap())
        .collect();
    assert_eq!(names.len(), 2, "{names:?}");
    for (name, prefer) in names.iter().zip([0, 1]) {
        assert!(name.contains(&format!("prefer_busy_poll={prefer}")), "{names:?}");
    }
    // The epoll rows and, where udp_bare offers the mode, their bare C twin c-epoll.
    let twins: Vec<(&str, &str)> = report["twins"]
        .as_array()
        .map(|t| {
            t.iter().map(|x| (x["path"].as_str().unwrap(), x["twin"].as_str().unwrap())).collect()
        })
        .unwrap_or_default();
    let udprx_series: Vec<&serde_json::Value> = series(&report)
        .iter()
        .filter(|s| !s["label"].as_str().unwrap().contains("(peer)"))
        .collect();
    assert_eq!(udprx_series.len(), 2);
    if twins.is_empty() {
        skip_part(Need::Setup, "c-epoll twin", &format!("no twin row: {}", report["notes"]));
    } else {
        assert!(
            twins.iter().all(|&(p, t)| p.contains("epoll 1×") && t.contains("c-epoll")),
            "{twins:?}"
        );
        assert_series_measured(&report, 4);
    }
    let kernel = std::fs::read_to_string("/proc/sys/kernel/osrelease").unwrap();
    let mut v = kernel.trim().split(['.', '-']).map(|x| x.parse::<u32>().unwrap_or(0));
    let new_kernel = (v.next().unwrap_or(0), v.next().unwrap_or(0)) >= (6, 9);
    for (i, s) in udprx_series.iter().enumerate() {
        assert!(s["label"].as_str().unwrap().contains("epoll"), "{}", s["label"]);
        let rr = &s["points"][0]["trials"][0]["result"]["receiver_report"];
        let setup = &rr["setup"];
        assert_eq!(setup["method"], "epoll", "{setup}");
        let wakeups = rr["threads"][0]["epoll_wakeups"].as_u64().unwrap_or(0);
        assert!(wakeups > 0, "no epoll wake-ups counted: {}", rr["threads"]);
        let line = setup["epoll_busy_poll"].as_str().expect("epoll busy poll reported");
        if new_kernel {
            let want = format!("busy_poll_usecs=50 busy_poll_budget=0 prefer_busy_poll={i} ");
            assert!(line.contains(&want), "{line}");
        } else {
            skip_part(Need::Feature, "epoll busy poll", line);
        }
    }
    let md = std::fs::read_to_string(out.join("report.md")).unwrap();
    assert!(md.contains("SO_PREFER_BUSY_POLL"), "{md}");
    std::fs::remove_dir_all(&out).unwrap();
}

#[test]
fn peers_are_reference_rows() {
    if !root_or_skip("the veth topology") {
        return;
    }
    let have = |p: &str| {
        Command::new("sh")
            .arg("-c")
            .arg(format!("command -v {p}"))
            .output()
            .is_ok_and(|o| o.status.success())
    };
    if !have("iperf3") || !have("sockperf") {
        return skip(
            Need::Setup,
            "iperf3 or sockperf is not installed (scripts/setup.sh installs them)",
        );
    }
    let out = tmp("peers");
    let mut cmd = udprx();
    cmd.args([
        "bench",
        "--topology",
        "veth",
        "--peers",
        "--methods",
        "recvmmsg",
        "--scenarios",
        "classic",
        "--fanout",
        "one",
        "--rate",
        "50k",
        "--reps",
        "2",
        "--max-reps",
        "2",
        "--secs",
        "1s",
        "--out",
    ])
    .arg(&out);
    // The bare C receivers (scripts/setup.sh builds udp_bare into $CARGO_TARGET_DIR/peers).
    let udp_bare = std::path::Path::new(env!("CARGO_BIN_EXE_udprx"))
        .parent()
        .and_then(|d| d.parent())
        .map(|t| t.join("peers/udp_bare"))
        .filter(|p| p.is_file());
    let o = run(cmd, Duration::from_secs(180));
    assert!(o.status.success(), "{}", text(&o));
    let report = read_report(&out);
    let labels: Vec<&str> = series(&report).iter().map(|r| r["label"].as_str().unwrap()).collect();
    assert!(labels.iter().any(|l| l.contains("iperf3")), "{labels:?}");
    assert!(labels.iter().any(|l| l.contains("sockperf")), "{labels:?}");
    let c_rows =
        labels.iter().filter(|l| l.contains("c-recvmmsg") || l.contains("c-uring")).count();
    if udp_bare.is_some() {
        assert!(labels.iter().any(|l| l.contains("c-recvmmsg")), "{labels:?}");
        // Only recvmmsg's twin joins a plan of recvmmsg alone, and the path is set against it.
        assert_eq!(c_rows, 1, "{labels:?}");
        let twin = &report["twins"][0];
        assert!(twin["path"].as_str().unwrap().contains("recvmmsg"), "{twin}");
        assert!(twin["twin"].as_str().unwrap().contains("c-recvmmsg"), "{twin}");
        assert!(twin["peak"][0]["est"].as_f64().unwrap() > 0.0, "{twin}");
    } else {
        assert_eq!(c_rows, 0, "{labels:?}");
        assert!(report.to_string().contains("udp_bare is not built"), "the skip is noted");
        skip_part(Need::Setup, "c-peers", "udp_bare is not built (scripts/setup.sh builds it)");
    }
    assert_series_measured(&report, 3 + c_rows);
    let cmp = &report["comparisons"][0];
    assert!(cmp["ratio"]["est"].as_f64().unwrap() > 0.0, "{cmp}");
    assert!(cmp["best_path"].as_str().unwrap().contains("recvmmsg"));
    std::fs::remove_dir_all(&out).unwrap();
}

#[cfg(target_arch = "x86_64")]
#[test]
fn every_cell_failing_exits_1_and_still_writes_the_report() {
    let out = tmp("all-failed");
    let mut cmd = udprx();
    cmd.env("UDPRX_BENCH_NOT_ROOT", "1")
        .args(["bench", "--topology", "loopback", "--methods", "uring", "--no-spin"])
        .args(bench_plan::TINY)
        .arg("--out")
        .arg(&out);
    common::without_io_uring(&mut cmd);
    let o = run(cmd, Duration::from_secs(120));
    assert_eq!(o.status.code(), Some(1), "{}", text(&o));
    let stderr = String::from_utf8_lossy(&o.stderr);
    let last = stderr.trim_end().lines().last().unwrap_or_default();
    assert!(last.starts_with("udprx: error: no trial produced a result"), "{}", text(&o));
    let report = read_report(&out);
    let trials: Vec<&serde_json::Value> = series(&report)
        .iter()
        .flat_map(|s| s["points"].as_array().unwrap())
        .flat_map(|p| p["trials"].as_array().unwrap())
        .collect();
    assert!(!trials.is_empty(), "no trial recorded");
    for t in trials {
        assert!(t["result"].is_null(), "{t}");
        assert!(t["error"].as_str().unwrap().contains("io_uring"), "{t}");
    }
    let notes = report["notes"].to_string();
    assert!(notes.contains("no trial produced a result"), "{notes}");
    std::fs::remove_dir_all(&out).unwrap();
}

/// Files of the sysctl journal in `dir`.
fn journals(dir: &Path) -> Vec<String> {
    std::fs::read_dir(dir)
        .map(|d| {
            d.filter_map(|e| e.ok())
                .filter_map(|e| e.file_name().into_string().ok())
                .filter(|n| n.starts_with("sysctl-") && n.ends_with(".json"))
                .collect()
        })
        .unwrap_or_default()
}

#[test]
fn a_killed_run_is_restored_by_restore_and_by_the_next_run() {
    if !root_or_skip("writing sysctls") {
        return;
    }
    // A harmless global knob: the burst of the kernel's network message rate limiter. (The
    // other tests here leave it alone; they run in parallel.)
    let key = "net.core.message_burst";
    let orig = sysctl(key);
    struct Back(String);
    impl Drop for Back {
        fn drop(&mut self) {
            let _ = std::fs::write("/proc/sys/net/core/message_burst", &self.0);
        }
    }
    let _back = Back(orig.clone());
    let changed = (orig.parse::<u64>().unwrap() + 3).to_string();
    // A journal directory of this test's own, so the other tests' runs do not restore it.
    let journal = tmp("journal");
    let _ = std::fs::remove_dir_all(&journal);
    for next in ["--restore", "the next run"] {
        let out = tmp("killed");
        let mut child = udprx()
            .env("UDPRX_BENCH_JOURNAL_DIR", &journal)
            .args(["bench", "--topology", "loopback", "--methods", "recvmmsg"])
            .args(["--scenarios", "classic", "--fanout", "one", "--no-spin", "--secs", "5s"])
            .arg("--sysctl")
            .arg(format!("{key}={changed}"))
            .arg("--out")
            .arg(&out)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        let pid = child.id();
        let deadline = Instant::now() + Duration::from_secs(60);
        while sysctl(key) != changed {
            assert!(Instant::now() < deadline, "{key} never changed");
            assert!(child.try_wait().unwrap().is_none(), "exited before changing {key}");
            std::thread::sleep(Duration::from_millis(20));
        }
        let files = journals(&journal);
        assert!(files.iter().any(|f| f.starts_with(&format!("sysctl-{pid}-"))), "{files:?}");
        child.kill().unwrap(); // SIGKILL: no guard runs
        child.wait().unwrap();
        assert_eq!(sysctl(key), changed, "a killed run leaves the value changed");
        let expect = format!(
            "udprx bench: restored sysctl {key} = {orig} left changed by a killed run (pid {pid}); it was {changed}"
        );
        let mut cmd = udprx();
        cmd.env("UDPRX_BENCH_JOURNAL_DIR", &journal);
        if next == "--restore" {
            cmd.args(["bench", "--restore"]);
            let o = run(cmd, Duration::from_secs(60));
            assert!(o.status.success(), "{}", text(&o));
            assert!(String::from_utf8_lossy(&o.stderr).contains(&expect), "{}", text(&o));
        } else {
            let out2 = tmp("after-kill");
            cmd.args(["bench", "--topology", "loopback", "--methods", "recvmmsg", "--no-spin"])
                .args(bench_plan::TINY)
                .arg("--out")
                .arg(&out2);
            let o = run(cmd, Duration::from_secs(120));
            assert!(o.status.success(), "{}", text(&o));
            assert!(String::from_utf8_lossy(&o.stderr).contains(&expect), "{}", text(&o));
            let report = read_report(&out2);
            let notes = report["notes"].to_string();
            assert!(notes.contains(&format!("restored sysctl {key} = {orig}")), "{notes}");
            std::fs::remove_dir_all(&out2).unwrap();
        }
        assert_eq!(sysctl(key), orig, "restored after {next}");
        assert!(journals(&journal).is_empty(), "journal left after {next}");
        let _ = std::fs::remove_dir_all(&out);
    }
    let mut cmd = udprx();
    cmd.env("UDPRX_BENCH_JOURNAL_DIR", &journal).args(["bench", "--restore"]);
    let o = run(cmd, Duration::from_secs(60));
    assert!(o.status.success(), "{}", text(&o));
    assert!(String::from_utf8_lossy(&o.stderr).contains("nothing to restore"), "{}", text(&o));
    let _ = std::fs::remove_dir_all(&journal);
}
