//! `udprx --profile`: a run sampled by perf ends with a share table whose shares add up to
//! 100% and writes a flame graph; without permission it says why in one line and the run
//! still reports.

#[path = "../../../testsupport/rx_common.rs"]
mod common;

use common::Need;
use std::process::{Command, Stdio};
use std::time::Duration;

fn udprx() -> Command {
    Command::new(env!("CARGO_BIN_EXE_udprx"))
}

fn free_port() -> u16 {
    std::net::UdpSocket::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port()
}

fn perf_installed() -> bool {
    std::env::var_os("PATH").is_some_and(|p| {
        std::env::split_paths(&p).any(|d| {
            d.join("perf").is_file()
                || std::fs::read_dir(&d).is_ok_and(|rd| {
                    rd.flatten().any(|e| e.file_name().to_string_lossy().starts_with("perf_"))
                })
        })
    })
}

/// Runs `udprx --profile` for 2 s on loopback with two paced flows; returns (stdout, stderr).
fn profiled_run(extra: &[&str], env_not_root: bool) -> (String, String) {
    let bind = format!("127.0.0.1:{}", free_port());
    let mut cmd = udprx();
    cmd.args(["--bind", &bind, "--method", "recvmmsg", "--duration", "2s", "--interval", "0"])
        .args(["--rcvbuf", "8M", "--profile"])
        .args(extra)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    if env_not_root {
        cmd.env("UDPRX_BENCH_NOT_ROOT", "1");
    }
    let child = cmd.spawn().expect("spawn udprx");
    std::thread::sleep(Duration::from_millis(600));
    common::join(common::send_flows(bind.parse().unwrap(), 0..2, 2000, 18, None));
    let out = child.wait_with_output().expect("wait");
    let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
    let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
    assert!(out.status.success(), "udprx failed: {stdout}\n{stderr}");
    assert!(stdout.contains("datagrams 4,000"), "the run itself must still report: {stdout}");
    (stdout, stderr)
}

/// The share column of the profile table (rows between the dashes and the `busy` line).
fn shares(stdout: &str) -> Vec<(String, f64)> {
    let start = stdout.find("\nprofile: perf cpu-clock").expect("profile headline");
    let mut rows = Vec::new();
    for line in stdout[start..].lines().skip(4) {
        if line.starts_with("busy (all but idle)") || line.trim().is_empty() {
            break;
        }
        let pct = line
            .split_whitespace()
            .find(|w| w.ends_with('%'))
            .and_then(|w| w.trim_end_matches('%').parse::<f64>().ok())
            .unwrap_or_else(|| panic!("no share in {line:?}"));
        let name = line.split("  ").next().unwrap_or("").trim().to_string();
        rows.push((name, pct));
    }
    rows
}

#[test]
fn profiled_run_prints_shares_that_sum_to_100_and_a_flame_graph() {
    if !common::root_or_skip("sampling whole CPUs with perf") {
        return;
    }
    if !perf_installed() {
        common::skip(Need::Setup, "perf is not installed (scripts/setup.sh installs linux-perf)");
        return;
    }
    let dir = std::env::temp_dir().join(format!("udprx-profile-test-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let svg = dir.join("flame.svg");
    let svg_arg = svg.display().to_string();
    let (stdout, stderr) = profiled_run(&["--profile-svg", &svg_arg], false);
    if let Some(l) = stdout.lines().find(|l| l.contains("profile: not sampled")) {
        // Root, perf installed, and still no events: a container or namespace without them.
        common::skip(Need::Feature, &format!("perf cannot sample here: {l}"));
        let _ = std::fs::remove_dir_all(&dir);
        return;
    }
    let rows = shares(&stdout);
    assert!(!rows.is_empty(), "empty profile table: {stdout}\n{stderr}");
    let sum: f64 = rows.iter().map(|(_, p)| p).sum();
    // Each share is rounded to 0.1%.
    assert!(
        (sum - 100.0).abs() <= 0.05 * rows.len() as f64 + 0.01,
        "shares sum to {sum}: {rows:?}"
    );
    assert!(rows.iter().all(|(n, _)| !n.is_empty()), "{rows:?}");
    let text = std::fs::read_to_string(&svg).expect("flame graph written");
    assert!(text.contains("<svg") && text.contains("</svg>"), "not an SVG");
    assert!(stdout.contains(&format!("flame graph: {svg_arg}")), "{stdout}");
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn without_permission_the_run_says_why_and_goes_on() {
    // Not root (as seen by udprx): with perf_event_paranoid > 0 it cannot sample whole CPUs.
    let paranoid: i32 = std::fs::read_to_string("/proc/sys/kernel/perf_event_paranoid")
        .ok()
        .and_then(|s| s.trim().parse().ok())
        .unwrap_or(2);
    if paranoid <= 0 {
        common::skip(
            Need::Feature,
            "perf_event_paranoid <= 0 lets anyone sample: no refusal to see",
        );
        return;
    }
    let (stdout, _) = profiled_run(&["--profile-svg", "/nonexistent-dir/x.svg"], true);
    let lines: Vec<&str> = stdout.lines().filter(|l| l.contains("profile: not sampled")).collect();
    assert_eq!(lines.len(), 1, "one line saying why: {stdout}");
    assert!(
        lines[0].contains("perf is not installed") || lines[0].contains("perf_event_paranoid"),
        "{}",
        lines[0]
    );
    assert!(!stdout.contains("flame graph:"), "{stdout}");
}

#[test]
fn bad_profile_arguments_exit_2() {
    for args in [
        &["--profile", "--profile-freq", "5", "--bind", "127.0.0.1:0"][..],
        &["--profile-svg", "x.svg", "--bind", "127.0.0.1:0"][..],
    ] {
        let out = udprx().args(args).output().expect("spawn");
        assert_eq!(out.status.code(), Some(2), "{args:?}: {out:?}");
        let err = String::from_utf8_lossy(&out.stderr);
        assert_eq!(err.trim().lines().count(), 1, "{args:?}: {err}");
    }
}
