//! The `udprx` binary: bad arguments exit 2 with one line; a timed run ends by itself and
//! reports what it received.

#[path = "../../../testsupport/rx_common.rs"]
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
        &["--stats", "everything", "--bind", "127.0.0.1:0"],
        &["--interval", "soon", "--bind", "127.0.0.1:0"],
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
            .stderr(std::process::Stdio::piped())
            .spawn()
            .expect("spawn");
        std::thread::sleep(Duration::from_millis(400));
        let dst = bind.parse().unwrap();
        common::join(common::send_flows(dst, 0..2, 100, 18, None));
        let out = child.wait_with_output().expect("wait");
        assert!(out.status.success(), "{method}: {out:?}");
        assert!(t0.elapsed() < Duration::from_secs(15));
        // With `--json -` stdout holds only the report; the table goes to stderr.
        let json: serde_json::Value = serde_json::from_slice(&out.stdout)
            .unwrap_or_else(|e| panic!("{method}: stdout is not JSON ({e}): {out:?}"));
        assert_eq!(json["schema"], "udprx-report/1");
        assert_eq!(json["totals"]["datagrams"], 200, "{method}: {json}");
        assert_eq!(json["totals"]["lost"], 0, "{method}: {json}");
        let table = String::from_utf8_lossy(&out.stderr);
        assert!(table.contains("datagrams 200 "), "{method}: {table}");
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
    assert!(text.contains("datagrams 50 "), "{text}");
    assert!(text.contains("Interval"), "live lines before the report: {text}");
}

#[cfg(target_arch = "x86_64")]
mod seccomp {
    pub const RET_ALLOW: u32 = 0x7fff_0000;
    pub const RET_EPERM: u32 = 0x0005_0000 | libc::EPERM as u32;
    pub const SYS_SETSOCKOPT: u32 = 54;
    pub const SYS_IO_URING_SETUP: u32 = 425;

    pub fn insn(code: u16, jt: u8, jf: u8, k: u32) -> libc::sock_filter {
        libc::sock_filter { code, jt, jf, k }
    }
    /// ld [off] (seccomp_data: nr at 0, args[i] low word at 16 + 8 i)
    pub fn ld(off: u32) -> libc::sock_filter {
        insn(0x20, 0, 0, off)
    }
    /// jeq k, skip `jf` instructions when not equal
    pub fn jeq(k: u32, jf: u8) -> libc::sock_filter {
        insn(0x15, 0, jf, k)
    }
    pub fn ret(k: u32) -> libc::sock_filter {
        insn(0x06, 0, 0, k)
    }
}

/// Runs udprx under a seccomp filter (as a sandbox would) that refuses some calls with EPERM.
#[cfg(target_arch = "x86_64")]
fn udprx_under_seccomp(prog: Vec<libc::sock_filter>, args: &[&str]) -> std::process::Output {
    let mut cmd = udprx();
    cmd.args(args);
    common::under_seccomp(&mut cmd, prog);
    cmd.output().expect("spawn udprx under seccomp")
}

#[cfg(target_arch = "x86_64")]
fn udprx_without_io_uring(args: &[&str]) -> std::process::Output {
    use seccomp::*;
    let prog = vec![ld(0), jeq(SYS_IO_URING_SETUP, 1), ret(RET_EPERM), ret(RET_ALLOW)];
    udprx_under_seccomp(prog, args)
}

#[cfg(target_arch = "x86_64")]
#[test]
fn refused_cbpf_and_gro_name_the_alternative() {
    use seccomp::*;
    // setsockopt(.., SOL_SOCKET, SO_ATTACH_REUSEPORT_CBPF = 51, ..) -> EPERM
    let no_cbpf =
        vec![ld(0), jeq(SYS_SETSOCKOPT, 3), ld(32), jeq(51, 1), ret(RET_EPERM), ret(RET_ALLOW)];
    let args = ["--bind", "127.0.0.1:0", "--sockets", "2", "--steer", "cpu", "--duration", "1s"];
    let out = udprx_under_seccomp(no_cbpf, &args);
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{out:?}");
    assert!(err.contains("SO_ATTACH_REUSEPORT_CBPF") && err.contains("--steer hash"), "{err}");

    // setsockopt(.., SOL_UDP = 17, UDP_GRO = 104, ..) -> EPERM
    let no_gro = vec![
        ld(0),
        jeq(SYS_SETSOCKOPT, 5),
        ld(24),
        jeq(17, 3),
        ld(32),
        jeq(104, 1),
        ret(RET_EPERM),
        ret(RET_ALLOW),
    ];
    // A method named explicitly: the refusal is an error that names the way out.
    let args = ["--bind", "127.0.0.1:0", "--method", "recvmmsg", "--gro", "--duration", "1s"];
    let out = udprx_under_seccomp(no_gro.clone(), &args);
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{out:?}");
    assert!(err.contains("UDP_GRO refused") && err.contains("without --gro"), "{err}");

    // `auto` (the default) downgrades: it receives without GRO and says why.
    let args = ["--bind", "127.0.0.1:0", "--gro", "--duration", "300ms", "--json", "-"];
    let out = udprx_under_seccomp(no_gro, &args);
    assert!(out.status.success(), "{out:?}");
    let json: serde_json::Value = serde_json::from_slice(&out.stdout).expect("JSON report");
    assert_eq!(json["setup"]["gro"], false, "{json}");
    let reason = json["setup"]["fallback_reason"].as_str().unwrap_or_default();
    assert!(reason.contains("UDP_GRO refused") && reason.contains("without GRO"), "{json}");
    assert!(reason.starts_with("it costs less CPU per datagram"), "why recvmmsg, first: {json}");
}

#[cfg(target_arch = "x86_64")]
#[test]
fn io_uring_forbidden_auto_falls_back_and_uring_names_the_alternative() {
    let out = udprx_without_io_uring(&[
        "--bind",
        "127.0.0.1:0",
        "--method",
        "auto",
        "--duration",
        "200ms",
        "--json",
        "-",
    ]);
    assert!(out.status.success(), "{out:?}");
    let text = String::from_utf8_lossy(&out.stderr);
    assert!(text.contains("method=recvmmsg"), "{text}");
    // `auto` picks recvmmsg on cost (it makes no io_uring call), and says so.
    assert!(text.contains("auto chose recvmmsg because: it costs less CPU per datagram"), "{text}");
    let json: serde_json::Value = serde_json::from_slice(&out.stdout).expect("JSON report");
    let reason = json["setup"]["fallback_reason"].as_str().unwrap_or_default();
    assert!(reason.contains("io_uring") && reason.contains("docs/results.md"), "{json}");

    let out = udprx_without_io_uring(&["--bind", "127.0.0.1:0", "--method", "uring"]);
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{out:?}");
    assert!(err.contains("io_uring receive unavailable"), "{err}");
    assert!(err.contains("--method recvmmsg"), "{err}");
    assert_eq!(err.trim().lines().count(), 1, "{err}");
}

#[test]
fn interval_zero_turns_live_lines_off() {
    let out = udprx()
        .args(["--bind", "127.0.0.1:0", "--interval", "0", "--duration", "300ms"])
        .output()
        .expect("spawn udprx");
    assert!(out.status.success(), "{out:?}");
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(!text.contains("Interval"), "no live lines with --interval 0: {text}");
    assert!(text.contains("udprx report"), "{text}");
}

/// Two udpflood runs stamping the same flow id but different sender ids reach one `udprx`
/// that reads no source address (the default): the report keeps them apart by sender id, each
/// flow complete, none mixed into duplicates or reordering. A sender id of 0 is refused.
#[test]
fn senders_stay_apart_by_their_ids_without_source_addresses() {
    let port = std::net::UdpSocket::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
    let bind = format!("127.0.0.1:{port}");
    let child = udprx()
        .args(["--bind", &bind, "--method", "recvmmsg", "--duration", "3s", "--interval", "0"])
        .args(["--rcvbuf", "8M", "--json", "-"])
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .expect("spawn udprx");
    std::thread::sleep(Duration::from_millis(400));
    let flood = |id: &str| {
        Command::new(env!("CARGO_BIN_EXE_udpflood"))
            .args([bind.as_str(), "--sender-id", id, "--flows", "1", "--count", "2000"])
            .args(["--rate", "20000", "-i", "0"])
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::piped())
            .spawn()
            .expect("spawn udpflood")
    };
    let (a, b) = (flood("11"), flood("22"));
    for f in [a, b] {
        let out = f.wait_with_output().expect("udpflood");
        assert!(out.status.success(), "{out:?}");
    }
    let out = child.wait_with_output().expect("wait udprx");
    assert!(out.status.success(), "{out:?}");
    let json: serde_json::Value = serde_json::from_slice(&out.stdout).expect("report JSON");
    let flows = json["flows"].as_array().expect("flows");
    let mut senders: Vec<u64> = flows.iter().map(|f| f["sender"].as_u64().unwrap()).collect();
    senders.sort();
    assert_eq!(senders, [11, 22], "one flow per sender id: {flows:?}");
    for f in flows {
        assert_eq!(f["source"], "-", "{f}");
        assert_eq!(f["received"], 2000, "{f}");
        assert_eq!((f["duplicates"].as_u64(), f["reordered"].as_u64()), (Some(0), Some(0)), "{f}");
    }
    let refused = Command::new(env!("CARGO_BIN_EXE_udpflood"))
        .args([bind.as_str(), "--sender-id", "0", "--count", "1"])
        .output()
        .expect("spawn udpflood");
    assert_eq!(refused.status.code(), Some(2), "{refused:?}");
}
