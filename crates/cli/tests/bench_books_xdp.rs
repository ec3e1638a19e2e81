//! Forced NIC-level drops balance in the books: an XDP program on the receive interface drops
//! about one UDP datagram in four before the stack (`testsupport/xdp_share_drop.rs`, native
//! mode on the veth of two namespaces standing for two hosts), and a tiny `udprx bench
//! --sender` through an agent books every trial: `sent = received + socket drops + backlog
//! drops + NIC drops + unaccounted`, with the XDP drops in the NIC term, read from the
//! driver's per-queue `xdp_drops` statistics (veth counts them nowhere else: not in
//! `rx_dropped`, not in softnet, not in the SNMP counters). The same program in generic (SKB)
//! mode drops where the kernel keeps no counter at all: those drops are unaccounted, and the
//! books' explanation names generic XDP among the places that count nothing. Needs root and
//! iproute2; skips visibly otherwise.

#[path = "../../../testsupport/bounded_cmd.rs"]
mod bounded_cmd;
use bounded_cmd::{run, text};
#[path = "../../../testsupport/agent_lab.rs"]
mod agent_lab;
#[path = "../../../testsupport/skip.rs"]
mod skip;
#[path = "../../../testsupport/xdp_share_drop.rs"]
mod xdp_share_drop;

use std::process::Command;
use std::time::Duration;

const UDPRX: &str = env!("CARGO_BIN_EXE_udprx");
const UDPFLOOD: &str = env!("CARGO_BIN_EXE_udpflood");

/// Runs the tiny bench through an agent with the share-dropping XDP program attached to the
/// receive interface (`generic`: SKB mode) and returns every trial's books.
fn books_with_xdp(tag: &str, generic: bool) -> Option<Vec<serde_json::Value>> {
    let lab = match agent_lab::AgentLab::up(tag, UDPFLOOD, "books-xdp-token", "200k") {
        Ok(l) => l,
        Err((need, reason)) => {
            skip::skip(need, &reason);
            return None;
        }
    };
    let xdp = match lab.in_rx(move || xdp_share_drop::attach("veth-rx", 2, generic)) {
        Ok(x) => x,
        Err(e) => {
            skip::skip(skip::Need::Feature, &format!("XDP on veth: {e}"));
            return None;
        }
    };
    let out = lab.dir.join("report");
    let mut cmd = Command::new("ip");
    cmd.args(["netns", "exec", &lab.ns("rx"), UDPRX])
        .args(["bench", "--sender", &lab.control.to_string(), "--token-file"])
        .arg(lab.token())
        .args(["--methods", "recvmmsg", "--scenarios", "classic", "--fanout", "one"])
        .args(["--rate", "50k", "--reps", "2", "--max-reps", "2", "--secs", "300ms", "--out"])
        .arg(&out);
    let o = run(cmd, Duration::from_secs(120));
    drop(xdp);
    assert!(o.status.success(), "{}", text(&o));
    let report: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(out.join("report.json")).unwrap()).unwrap();
    let mut books = Vec::new();
    for s in report["curves"]["series"].as_array().unwrap() {
        for p in s["points"].as_array().unwrap() {
            for t in p["trials"].as_array().unwrap() {
                let r = &t["result"];
                assert!(r.is_object(), "trial failed: {}", t["error"]);
                let notes = r["notes"].as_array().unwrap();
                assert!(notes.iter().any(|n| n.as_str().unwrap().starts_with("books: sent")));
                books.push(r["receiver_report"]["nic_books"].clone());
            }
        }
    }
    assert!(books.len() >= 2, "{} trials", books.len());
    Some(books)
}

#[test]
fn native_xdp_drops_on_the_receive_interface_are_the_books_nic_term() {
    let Some(all) = books_with_xdp("ubx", false) else { return };
    for b in all {
        let v = |k: &str| b[k]["value"].as_u64().unwrap();
        let (sent, nic, backlog) = (v("sent"), v("nic_drops"), v("backlog_drops"));
        // About a quarter of the datagrams dropped by XDP (random, so a wide band).
        assert!(nic * 10 > sent && nic * 10 < sent * 4, "{b}");
        // All of them in the driver's xdp_drops, none in rx_dropped: veth counts them there only.
        let src = b["nic_drops"]["source"].as_str().unwrap();
        assert!(src.contains("rx_dropped 0 "), "{src}");
        assert!(src.contains(&format!("XDP drops {nic}: driver statistics")), "{src}");
        let unaccounted = b["unaccounted"].as_i64().unwrap();
        if backlog == 0 {
            assert_eq!(unaccounted, 0, "the books balance: {b}");
        } else {
            // softnet is host-wide: another process's backlog drops show here.
            skip::skip_part(skip::Need::Feature, "exact balance", "host-wide backlog drops");
            assert_eq!(unaccounted, -(backlog as i64), "{b}");
        }
    }
}

#[test]
fn generic_xdp_drops_are_counted_nowhere_and_the_books_say_so() {
    let Some(all) = books_with_xdp("ubg", true) else { return };
    for b in all {
        let v = |k: &str| b[k]["value"].as_u64().unwrap();
        let (sent, nic, backlog) = (v("sent"), v("nic_drops"), v("backlog_drops"));
        eprintln!("{b}");
        let unaccounted = b["unaccounted"].as_i64().unwrap();
        assert_eq!(nic, 0, "{b}");
        if backlog == 0 {
            assert!(unaccounted * 10 > sent as i64 && unaccounted * 10 < sent as i64 * 4, "{b}");
        }
        let why = b["explanation"].as_str().unwrap();
        assert!(why.contains("generic (SKB-mode) XDP"), "{why}");
    }
}
