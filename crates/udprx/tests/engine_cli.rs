//! The `udprx` binary: bad arguments exit 2 with one line; a timed run ends by itself and
//! reports what it received.

mod common;

use std::process::Command;
use std::time::{Duration, Instant};

fn udprx() -> Command {
    Command::new(env!("CARGO_BIN_EXE_udprx"))
}

#[test]
fn bad_arguments_exit_2() {
    let cases: &[&[&str]] = &[
        &["--sockets", "x"],
        &["--method", "carrier-pigeon"],
        &["--steer", "random"],
        &["--duration", "5y"],
        &["--bind", "nowhere"],
        &["run", "--ring-buffers", "1000", "--bind", "127.0.0.1:0"],
        &["--sockets", "0", "--bind", "127.0.0.1:0"],
        &["--cpus", "9999", "--bind", "127.0.0.1:0"],
        &["--interval", "0s", "--bind", "127.0.0.1:0"],
    ];
    for args in cases {
        let out = udprx().args(*args).output().expect("spawn udprx");
        assert_eq!(out.status.code(), Some(2), "{args:?}: {out:?}");
        let err = String::from_utf8_lossy(&out.stderr);
        assert_eq!(err.trim().lines().count(), 1, "{args:?}: one-line reason, got {err}");
        assert!(err.starts_with("udprx: "), "{err}");
    }
}

#[test]
fn timed_run_receives_and_reports() {
    // Port 0 is not printed back by the CLI before it listens, so find a free port first.
    let port = std::net::UdpSocket::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
    let bind = format!("127.0.0.1:{port}");
    for method in ["recvfrom", "recvmmsg", "auto"] {
        let t0 = Instant::now();
        let child = udprx()
            .args(["run", "--bind", &bind, "--method", method, "--duration", "1500ms"])
            .args(["--interval", "500ms", "--rcvbuf", "8M", "--json", "-"])
            .stdout(std::process::Stdio::piped())
            .spawn()
            .expect("spawn");
        std::thread::sleep(Duration::from_millis(400));
        let dst = bind.parse().unwrap();
        common::join(common::send_flows(dst, 0..2, 100, 18, None));
        let out = child.wait_with_output().expect("wait");
        assert!(out.status.success(), "{method}: {out:?}");
        assert!(t0.elapsed() < Duration::from_secs(15));
        let text = String::from_utf8_lossy(&out.stdout);
        assert!(text.contains("total: 200 datagrams"), "{method}: {text}");
        assert!(text.contains("\"datagrams\": 200"), "{method}: {text}");
    }
}

#[test]
fn sigterm_still_prints_the_final_report() {
    let port = std::net::UdpSocket::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
    let bind = format!("127.0.0.1:{port}");
    let child = udprx()
        .args(["--bind", &bind, "--method", "recvmmsg", "--interval", "200ms"])
        .stdout(std::process::Stdio::piped())
        .spawn()
        .expect("spawn");
    std::thread::sleep(Duration::from_millis(400));
    common::join(common::send_flows(bind.parse().unwrap(), 0..1, 50, 18, None));
    std::thread::sleep(Duration::from_millis(200));
    let t0 = Instant::now();
    let st = Command::new("kill").args(["-TERM", &child.id().to_string()]).status().unwrap();
    assert!(st.success());
    let out = child.wait_with_output().expect("wait");
    assert!(t0.elapsed() < Duration::from_secs(5));
    assert!(out.status.success(), "{out:?}");
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(text.contains("total: 50 datagrams"), "{text}");
}
