//! `udpflood --server` against a malicious control server: whatever the server puts in its
//! run id or error messages, nothing reaches the terminal raw (no escape sequences, no forged
//! lines). Loopback only; every wait is bounded.

use std::net::SocketAddr;
use std::process::{Command, Stdio};

use udpctl::testing::{FakeServer, Script};
use udpctl::{ErrorCode, ErrorReply, ServerMsg};

const BIN: &str = env!("CARGO_BIN_EXE_udpflood");
const EVIL: &str = "\x1b[2J\x1b[H\nudpflood: forged line\r\u{9b}31m\u{202e}";

/// A one-connection server: `first` if given, else `ready` then `result`, all naming `EVIL`.
fn evil_server(first: Option<ServerMsg>) -> SocketAddr {
    let script = match first {
        Some(reply) => Script::Reply(reply),
        None => Script::Run { run_id: EVIL.into(), detail: serde_json::json!({ "x": EVIL }) },
    };
    FakeServer::start(script).unwrap().addr()
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
