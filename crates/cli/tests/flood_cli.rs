//! The `udpflood` binary: bad arguments exit 2 with a one-line reason, SIGTERM still prints the
//! report, --json is valid JSON.

use std::net::UdpSocket;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

const BIN: &str = env!("CARGO_BIN_EXE_udpflood");

fn run(args: &[&str]) -> std::process::Output {
    Command::new(BIN).args(args).stdin(Stdio::null()).output().expect("spawn udpflood")
}

#[test]
fn bad_arguments_exit_2_with_one_line() {
    let cases: &[&[&str]] = &[
        &["nope:9000"],
        &["127.0.0.1"],
        &["127.0.0.1:99999"],
        &["127.0.0.1:0"],
        &["127.0.0.1:9", "-b", "abc"],
        &["127.0.0.1:9", "-b", "5x"],
        &["127.0.0.1:9", "-b", "1.5"],
        &["127.0.0.1:9", "-l", "17"],
        &["127.0.0.1:9", "-l", "65508"],
        &["127.0.0.1:9", "-l", "big"],
        &["127.0.0.1:9", "-P", "0"],
        &["127.0.0.1:9", "-P", "-1"],
        &["127.0.0.1:9", "--cpus", "9999"],
        &["127.0.0.1:9", "--cpus", "3-1"],
        &["127.0.0.1:9", "--cpus", "x"],
        &["127.0.0.1:9", "-t", "ten"],
        &["127.0.0.1:9", "-t", "0"],
        &["127.0.0.1:9", "-t", "5d"],
        &["127.0.0.1:9", "-n", "0"],
        &["127.0.0.1:9", "-n", "lots"],
        &["127.0.0.1:9", "--flows", "300"],
        &["127.0.0.1:9", "-P", "2", "--flows", "1"],
        &["127.0.0.1:9", "--batch", "0"],
        &["127.0.0.1:9", "--batch", "5000"],
        &["127.0.0.1:9", "--burst", "0"],
        &["127.0.0.1:9", "--clock", "tai"],
        &["127.0.0.1:9", "-i", "soon"],
        &["127.0.0.1:9", "--bind", "[::1]:0"],
        &["127.0.0.1:9", "--no-such-flag"],
        // Two-host flags need --server; the receiver's flow budget is a u32 the server bounds.
        &["127.0.0.1:9", "--rx-flow-budget", "5"],
        &["127.0.0.1:9", "--server", "127.0.0.1:9", "--rx-flow-budget", "-1"],
        &["127.0.0.1:9", "--server", "127.0.0.1:9", "--rx-flow-budget", "4294967296"],
        &[],
    ];
    for args in cases {
        // Bounded in case a case were wrongly accepted: it would then send 200 ms to loopback.
        let mut full = args.to_vec();
        if !args.contains(&"-t") && !args.is_empty() {
            full.extend(["-t", "200ms", "-i", "0"]);
        }
        let out = run(&full);
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(2), "{args:?}: exit {:?}, stderr {stderr}", out.status);
        assert!(stderr.starts_with("udpflood: error: "), "{args:?}: {stderr}");
        assert_eq!(stderr.trim_end().lines().count(), 1, "{args:?}: not one line: {stderr}");
        assert!(!stderr.contains("panicked"), "{args:?}: {stderr}");
        assert!(out.stdout.is_empty(), "{args:?}: printed to stdout");
    }
    let small = run(&["127.0.0.1:9", "-l", "17"]);
    assert!(String::from_utf8_lossy(&small.stderr).contains("18-byte probe header"));
    let cpu = run(&["127.0.0.1:9", "--cpus", "9999"]);
    assert!(String::from_utf8_lossy(&cpu.stderr).contains("CPU 9999"));
}

#[test]
fn help_exits_0() {
    let out = run(&["--help"]);
    assert_eq!(out.status.code(), Some(0));
    let help = String::from_utf8_lossy(&out.stdout);
    for flag in ["--size", "--rate", "--duration", "--count", "--threads", "--flows", "--cpus"] {
        assert!(help.contains(flag), "--help lacks {flag}");
    }
}

#[test]
fn json_report_parses() {
    let rx = UdpSocket::bind("127.0.0.1:0").unwrap();
    let dest = rx.local_addr().unwrap().to_string();
    let out = run(&[&dest, "-n", "300", "-b", "3k", "--flows", "3", "--json"]);
    assert_eq!(out.status.code(), Some(0), "{}", String::from_utf8_lossy(&out.stderr));
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).expect("stdout is JSON");
    assert_eq!(v["packets"], 300);
    assert_eq!(v["flows"].as_array().unwrap().len(), 3);
    assert_eq!(v["rate_requested"], 3000);
}

#[test]
fn sigterm_mid_run_prints_the_final_report() {
    let rx = UdpSocket::bind("127.0.0.1:0").unwrap();
    let dest = rx.local_addr().unwrap().to_string();
    let child = Command::new(BIN)
        .args([&dest, "-t", "60", "-b", "5k", "-i", "100ms"])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    std::thread::sleep(Duration::from_millis(700));
    // SAFETY: kill(2) takes plain integers; the pid is our own child, not yet reaped.
    let rc = unsafe { libc::kill(child.id() as libc::pid_t, libc::SIGTERM) };
    assert_eq!(rc, 0);
    let started = Instant::now();
    let out = child.wait_with_output().unwrap();
    assert!(started.elapsed() < Duration::from_secs(20), "slow to stop");
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert_eq!(out.status.code(), Some(0), "{stdout} {}", String::from_utf8_lossy(&out.stderr));
    assert!(stdout.contains("interrupted"), "{stdout}");
    assert!(stdout.contains("datagrams"), "{stdout}");
    assert!(stdout.contains("Gbit/s wire"), "no live line: {stdout}");
}

#[test]
fn closed_stdout_is_not_a_panic() {
    let rx = UdpSocket::bind("127.0.0.1:0").unwrap();
    let dest = rx.local_addr().unwrap().to_string();
    let mut child = Command::new(BIN)
        .args([&dest, "-t", "300ms", "-b", "1k", "-i", "50ms"])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    drop(child.stdout.take());
    let out = child.wait_with_output().unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(!stderr.contains("panicked"), "{stderr}");
    assert_eq!(out.status.code(), Some(0), "{stderr}");
}
