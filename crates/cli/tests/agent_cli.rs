//! `udpflood agent` as a program: bad command lines exit 2 with one clear line; on loopback a
//! controller's flood arrives whole at its own address; SIGTERM stops the agent cleanly.

use std::io::{BufRead, BufReader};
use std::net::UdpSocket;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use udpctl::client::AgentClient;
use udpctl::{ClientConfig, FloodRequest};
use udpprobe::Clock;

const BIN: &str = env!("CARGO_BIN_EXE_udpflood");

fn tmp(name: &str) -> std::path::PathBuf {
    std::env::temp_dir().join(format!("udprx-agent-cli-{}-{name}", std::process::id()))
}

#[test]
fn bad_command_lines_exit_2_with_one_line() {
    let empty = tmp("empty");
    std::fs::write(&empty, "\n").unwrap();
    let good = tmp("good");
    std::fs::write(&good, "tok\n").unwrap();
    let cases: Vec<(Vec<String>, &str)> = vec![
        (vec![], "required"),
        (vec!["--control".into(), "127.0.0.1:0".into()], "--token-file"),
        (
            vec![
                "--control".into(),
                "127.0.0.1:0".into(),
                "--token-file".into(),
                "/nonexistent/t".into(),
            ],
            "/nonexistent/t",
        ),
        (
            vec![
                "--control".into(),
                "127.0.0.1:0".into(),
                "--token-file".into(),
                empty.display().to_string(),
            ],
            "empty",
        ),
        (
            vec![
                "--control".into(),
                "127.0.0.1:0".into(),
                "--token-file".into(),
                good.display().to_string(),
                "--allow-target".into(),
                "198.18.0.0/99".into(),
            ],
            "--allow-target",
        ),
        (
            vec![
                "--control".into(),
                "127.0.0.1:0".into(),
                "--token-file".into(),
                good.display().to_string(),
                "--max-rate".into(),
                "0".into(),
            ],
            "--max-rate",
        ),
    ];
    for (args, want) in cases {
        let out = Command::new(BIN).arg("agent").args(&args).output().unwrap();
        let err = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(2), "{args:?}: {err}");
        assert_eq!(err.trim_end().lines().count(), 1, "{args:?}: {err}");
        assert!(err.starts_with("udpflood: error: ") && err.contains(want), "{args:?}: {err}");
    }
    let _ = std::fs::remove_file(empty);
    let _ = std::fs::remove_file(good);
}

#[test]
fn a_loopback_flood_arrives_whole_and_sigterm_stops_the_agent() {
    let token = tmp("token");
    std::fs::write(&token, "s3cret-token\n").unwrap();
    let mut child = Command::new(BIN)
        .args(["agent", "--control", "127.0.0.1:0", "--token-file"])
        .arg(&token)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut out = BufReader::new(child.stdout.take().unwrap());
    let mut line = String::new();
    out.read_line(&mut line).unwrap();
    let addr = line.trim().rsplit(' ').next().unwrap().parse().expect("listening line");
    let rx = UdpSocket::bind("127.0.0.1:0").unwrap();
    rx.set_read_timeout(Some(Duration::from_millis(200))).unwrap();
    let mut agent =
        AgentClient::connect(addr, Some("s3cret-token"), &ClientConfig::default()).unwrap();
    let req = FloodRequest {
        target_port: rx.local_addr().unwrap().port(),
        target_ip: None,
        rate_pps: 5_000,
        duration_ms: 200,
        flows: 1,
        payload_size: 32,
        gso: false,
        threads: 1,
        cpus: None,
        clock: Clock::Monotonic,
    };
    // Count while the flood runs (the socket buffer does not hold the whole flood).
    let counter = std::thread::spawn(move || {
        let mut got = 0u64;
        let mut buf = [0u8; 256];
        let mut last = Instant::now();
        while last.elapsed() < Duration::from_secs(2) {
            if rx.recv(&mut buf).is_ok() {
                got += 1;
                last = Instant::now();
            }
        }
        got
    });
    let result = agent.flood(&req).unwrap();
    let got = counter.join().unwrap();
    assert!(result.sent > 0);
    assert_eq!(got, result.sent, "loopback at 5k/s: every datagram arrives");
    drop(agent);
    // SAFETY: signals our own child by its pid.
    assert_eq!(unsafe { libc::kill(child.id() as libc::pid_t, libc::SIGTERM) }, 0);
    let status = child.wait().unwrap();
    assert!(status.success(), "{status:?}");
    let mut log = String::new();
    out.read_line(&mut log).unwrap();
    assert!(log.contains("flood for 127.0.0.1"), "{log}");
    let _ = std::fs::remove_file(token);
}
