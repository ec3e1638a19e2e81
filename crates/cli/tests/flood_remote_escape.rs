//! `udpflood --server` against a malicious control server: whatever the server puts in its
//! run id or error messages, nothing reaches the terminal raw (no escape sequences, no forged
//! lines). Loopback only; every wait is bounded.

use std::net::{SocketAddr, TcpListener, UdpSocket};
use std::process::{Command, Stdio};
use std::thread;
use std::time::{Duration, Instant};

use udpctl::frame::{self, DeadlineReader};
use udpctl::msg;
use udpctl::{ErrorCode, ErrorReply, Ready, ReceiverReport, ReceiverSummary, RunResult, ServerMsg};

const BIN: &str = env!("CARGO_BIN_EXE_udpflood");
const EVIL: &str = "\x1b[2J\x1b[H\nudpflood: forged line\r\u{9b}31m\u{202e}";

/// A one-connection server: `first` if given, else `ready` then `result`, all naming `EVIL`.
fn evil_server(first: Option<ServerMsg>) -> SocketAddr {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    let data = UdpSocket::bind("127.0.0.1:0").unwrap();
    thread::spawn(move || {
        let Ok((s, _)) = listener.accept() else { return };
        let deadline = Instant::now() + Duration::from_secs(30);
        let _ = frame::read_frame(&mut DeadlineReader::new(&s, deadline), 1 << 16);
        let mut w = &s;
        if let Some(reply) = first {
            let _ = frame::write_frame(&mut w, &msg::encode(&reply));
            thread::sleep(Duration::from_millis(200));
            return;
        }
        let ready = Ready {
            run_id: EVIL.into(),
            data_port: data.local_addr().unwrap().port(),
            senders: 1,
            sender_index: 0,
            flow_base: 0,
            same_host: true,
        };
        let _ = frame::write_frame(&mut w, &msg::encode(&ServerMsg::Ready(ready)));
        let _ = frame::read_frame(&mut DeadlineReader::new(&s, deadline), 1 << 20);
        let summary = ReceiverSummary { elapsed_ns: 1, ..ReceiverSummary::default() };
        let result = RunResult {
            run_id: EVIL.into(),
            senders: 1,
            receiver: ReceiverReport { summary, detail: serde_json::json!({ "x": EVIL }) },
            sender_reports: Vec::new(),
        };
        let _ = frame::write_frame(&mut w, &msg::encode(&ServerMsg::Result(result)));
        thread::sleep(Duration::from_millis(200));
        drop(data);
    });
    addr
}

fn udpflood(server: SocketAddr, extra: &[&str]) -> std::process::Output {
    Command::new(BIN)
        .args(["127.0.0.1:0", "--server", &server.to_string(), "-n", "20", "-b", "1k"])
        .args(extra)
        .stdin(Stdio::null())
        .output()
        .expect("spawn udpflood")
}

/// No character a terminal would act on (ESC, CR, C1 CSI, bidi override; newlines end lines), and
/// no forged line.
fn assert_clean(what: &str, out: &[u8]) {
    let text = String::from_utf8_lossy(out);
    let raw = |c: char| c != '\n' && udpctl::text::is_unsafe(c);
    assert!(!text.chars().any(raw), "{what}: raw: {text:?}");
    assert!(!text.lines().any(|l| l.starts_with("udpflood: forged")), "{what}: {text}");
}

#[test]
fn a_malicious_server_cannot_write_to_the_terminal() {
    let cases: Vec<(&str, Option<ServerMsg>, &[&str], i32)> = vec![
        ("result, text report", None, &[], 0),
        ("result, json report", None, &["--json"], 0),
        ("busy error", Some(ServerMsg::Error(ErrorReply::new(ErrorCode::Busy, EVIL))), &[], 1),
        (
            "invalid error",
            Some(ServerMsg::Error(ErrorReply::new(ErrorCode::Invalid, EVIL))),
            &[],
            2,
        ),
    ];
    for (name, first, extra, code) in cases {
        let out = udpflood(evil_server(first), extra);
        assert_eq!(out.status.code(), Some(code), "{name}: {out:?}");
        assert_clean(name, &out.stdout);
        assert_clean(name, &out.stderr);
        let all = [out.stdout, out.stderr].concat();
        assert!(String::from_utf8_lossy(&all).contains("\\x1b[2J"), "{name}: escapes visible");
    }
}
