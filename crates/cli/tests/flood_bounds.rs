//! Bounds of the `udpflood` command line (issue 13): absurd bursts and intervals are usage
//! errors, and a burst that does not divide the run cannot raise the mean rate.

use std::net::UdpSocket;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

const BIN: &str = env!("CARGO_BIN_EXE_udpflood");

fn run(args: &[&str]) -> std::process::Output {
    Command::new(BIN).args(args).stdin(Stdio::null()).output().expect("spawn udpflood")
}

#[test]
fn absurd_bursts_and_intervals_exit_2_with_one_line() {
    let cases: &[&[&str]] = &[
        // The case: 10^9 back to back at 1 kpps sent 269 times the rate.
        &["--burst", "1000000000", "-b", "1k"],
        &["--burst", "2000000"],
        // More than the whole run sends at its rate.
        &["--burst", "5000", "-b", "1k", "-t", "1s"],
        &["-i", "1ns"],
        &["-i", "9ms"],
    ];
    for args in cases {
        let mut full = vec!["127.0.0.1:9"];
        full.extend_from_slice(args);
        // Bounded in case a case were wrongly accepted.
        if !args.contains(&"-t") {
            full.extend(["-t", "300ms"]);
        }
        let t0 = Instant::now();
        let out = run(&full);
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(2), "{args:?}: {stderr}");
        assert!(stderr.starts_with("udpflood: error: "), "{args:?}: {stderr}");
        assert_eq!(stderr.trim_end().lines().count(), 1, "{args:?}: {stderr}");
        assert!(t0.elapsed() < Duration::from_secs(2), "{args:?}: refused only after running");
        assert!(out.stdout.is_empty(), "{args:?}");
    }
    let burst = run(&["127.0.0.1:9", "--burst", "5000", "-b", "1k", "-t", "1s"]);
    let stderr = String::from_utf8_lossy(&burst.stderr);
    assert!(stderr.contains("at most 1000"), "{stderr}");
}

#[test]
fn a_burst_that_does_not_divide_the_run_keeps_the_mean_rate() {
    // 2 kpps for 1 s in bursts of 1500: bursts are due at 0 and 0.75 s; the second may only
    // complete the 2000 datagrams due by the end (it used to send 3000, 1.5 times the rate).
    let rx = UdpSocket::bind("127.0.0.1:0").unwrap();
    let dest = rx.local_addr().unwrap().to_string();
    let out = run(&[&dest, "-b", "2k", "--burst", "1500", "-t", "1s", "-i", "0", "--json"]);
    assert_eq!(out.status.code(), Some(0), "{}", String::from_utf8_lossy(&out.stderr));
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).expect("stdout is JSON");
    let packets = v["packets"].as_u64().unwrap();
    let secs = v["duration_s"].as_f64().unwrap();
    assert!((1980..=2020).contains(&packets), "sent {packets}: {v}");
    assert!((0.99..1.5).contains(&secs), "ran {secs} s: {v}");
    let mean = packets as f64 / secs;
    assert!(mean <= 2000.0 * 1.01, "mean {mean} pps over {secs} s");
}
