//! `udprx bench --sender` across two network namespaces standing for two hosts (the veth pair
//! of `scripts/netns.sh`: 198.18.0.1 in tx, 198.18.0.2 in rx): `udpflood agent` runs in tx,
//! the bench runs in rx and drives it over TCP across the veth. A tiny curve through the agent
//! writes a complete report whose every trial balances its NIC books. Needs root and iproute2;
//! skips visibly otherwise. Bad `--sender` command lines are refused in one line (no root).

#[path = "../../../testsupport/bounded_cmd.rs"]
mod bounded_cmd;
use bounded_cmd::{run, text};
#[path = "../../../testsupport/agent_lab.rs"]
mod agent_lab;
#[path = "../../../testsupport/skip.rs"]
mod skip;

use std::process::Command;
use std::time::Duration;

const UDPFLOOD: &str = env!("CARGO_BIN_EXE_udpflood");
const UDPRX: &str = env!("CARGO_BIN_EXE_udprx");
const TOKEN: &str = "bench-two-hosts-token";

type Lab = agent_lab::AgentLab;

/// `udprx` run inside the rx namespace of `lab`.
fn udprx_in_rx(lab: &Lab) -> Command {
    let mut c = Command::new("ip");
    c.args(["netns", "exec", &lab.ns("rx"), UDPRX]);
    c
}

#[test]
fn a_tiny_bench_through_the_agent_writes_a_complete_report_with_balanced_books() {
    let lab = match Lab::up("ubh-quick", UDPFLOOD, TOKEN, "200k") {
        Ok(l) => l,
        Err((need, reason)) => return skip::skip(need, &reason),
    };
    let out = lab.dir.join("report");
    let mut cmd = udprx_in_rx(&lab);
    cmd.args(["bench", "--sender", &lab.control.to_string(), "--token-file"])
        .arg(lab.token())
        .args([
            "--quick",
            "--methods",
            "recvmmsg",
            "--fanout",
            "one",
            "--scenarios",
            "classic",
            "--secs",
            "300ms",
            "--budget",
            "5s",
            "--latency-at",
            "0.5",
            "--out",
        ])
        .arg(&out);
    let o = run(cmd, Duration::from_secs(180));
    assert!(o.status.success(), "{}", text(&o));
    let report: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(out.join("report.json")).unwrap()).unwrap();
    let topo = &report["topology"];
    assert_eq!(topo["kind"], "remote", "{topo}");
    assert_eq!(topo["rx_addr"], "198.18.0.2", "{topo}");
    let bound = topo["bound"].as_str().unwrap();
    assert!(bound.contains(&lab.control.to_string()), "{bound}");
    assert!(bound.contains("veth-rx"), "interface not found from the route: {bound}");
    assert!(bound.contains("offset estimated over the control channel"), "{bound}");
    let series = report["curves"]["series"].as_array().unwrap();
    assert!(!series.is_empty());
    let mut trials = 0;
    for s in series {
        assert!(s["figures"]["peak"]["est"].as_f64().unwrap() > 0.0, "{s}");
        for p in s["points"].as_array().unwrap() {
            for t in p["trials"].as_array().unwrap() {
                let r = &t["result"];
                assert!(r.is_object(), "trial failed: {}", t["error"]);
                let sent = r["sent"].as_u64().unwrap();
                assert!(sent > 0, "{r}");
                // The agent's count is the sent term; the books add up to it.
                let books = &r["receiver_report"]["nic_books"];
                assert_eq!(books["sent"]["value"].as_u64(), Some(sent), "{books}");
                assert_eq!(books["received"]["value"], r["received"], "{books}");
                let terms: i128 = ["received", "socket_drops", "backlog_drops", "nic_drops"]
                    .iter()
                    .map(|k| i128::from(books[k]["value"].as_u64().unwrap()))
                    .sum();
                let unaccounted = i128::from(books["unaccounted"].as_i64().unwrap());
                assert_eq!(terms + unaccounted, i128::from(sent), "{books}");
                assert!(books["nic_drops"]["source"].as_str().unwrap().contains("veth-rx"));
                let notes = r["notes"].as_array().unwrap();
                assert!(
                    notes.iter().any(|n| n.as_str().unwrap().starts_with("books: sent")),
                    "{notes:?}"
                );
                trials += 1;
            }
        }
    }
    assert!(trials >= 3, "only {trials} trials");
    let md = std::fs::read_to_string(out.join("report.md")).unwrap();
    assert!(md.contains("Topology: remote"), "{md}");
    assert!(md.contains("## Answer"), "{md}");
    assert!(md.contains("NIC books, classic recvmmsg"), "{md}");
    assert!(md.contains("placement map (queues → IRQs → CPUs, NUMA): veth-rx"), "{md}");
    assert!(md.contains("every trial balanced") || md.contains("left a remainder"), "{md}");
    assert!(md.contains(&format!("the sender is 1 agent(s) ({})", lab.control)), "{md}");
}

#[test]
fn an_unreachable_or_unauthorised_agent_is_one_line_and_exit_2_or_1() {
    let lab = match Lab::up("ubh-bad", UDPFLOOD, TOKEN, "200k") {
        Ok(l) => l,
        Err((need, reason)) => return skip::skip(need, &reason),
    };
    let wrong = lab.dir.join("wrong");
    std::fs::write(&wrong, "not-the-token\n").unwrap();
    let mut cmd = udprx_in_rx(&lab);
    cmd.args(["bench", "--quick", "--sender", &lab.control.to_string(), "--token-file"])
        .arg(&wrong)
        .arg("--out")
        .arg(lab.dir.join("r"));
    let o = run(cmd, Duration::from_secs(60));
    assert!(!o.status.success(), "{}", text(&o));
    let err = String::from_utf8_lossy(&o.stderr);
    let lines: Vec<&str> = err.lines().filter(|l| l.contains("error")).collect();
    assert_eq!(lines.len(), 1, "{err}");
    assert!(lines[0].contains(&lab.control.to_string()), "{err}");
    assert!(lines[0].contains("unauthorized"), "{err}");
}

#[test]
fn bad_sender_command_lines_are_refused_in_one_line() {
    for (args, want) in [
        (&["--sender", "198.18.0.1:7400", "--topology", "veth"][..], "exclude each other"),
        (&["--sender", "198.18.0.1:7400", "--peers"][..], "--peers"),
        (&["--sender", "198.18.0.1:7400", "--sender", "198.18.0.1:7400"][..], "twice"),
        (&["--sender", "no-port"][..], "HOST:PORT"),
        (&["--token-file", "/nonexistent"][..], "--sender"),
    ] {
        let out = std::env::temp_dir().join(format!("ubh-{}-bad", std::process::id()));
        let o = run(
            {
                let mut c = Command::new(UDPRX);
                c.arg("bench").args(args).arg("--out").arg(&out);
                c
            },
            Duration::from_secs(30),
        );
        assert_eq!(o.status.code(), Some(2), "{args:?}: {}", text(&o));
        let err = String::from_utf8_lossy(&o.stderr);
        assert!(err.contains(want), "{args:?}: {err}");
        let _ = std::fs::remove_dir_all(&out);
    }
}

#[test]
fn fanout_sweep_reports_the_counts_this_host_can_run_and_the_rest_as_not_measurable() {
    let out = std::env::temp_dir().join(format!("ubh-{}-sweep", std::process::id()));
    let mut cmd = Command::new(UDPRX);
    cmd.env("UDPRX_BENCH_NOT_ROOT", "1")
        .args(["bench", "--quick", "--methods", "recvmmsg", "--fanout", "one,sweep"])
        .args(["--scenarios", "classic", "--secs", "300ms", "--budget", "5s", "--out"])
        .arg(&out);
    let o = run(cmd, Duration::from_secs(240));
    assert!(o.status.success(), "{}", text(&o));
    let report: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(out.join("report.json")).unwrap()).unwrap();
    let notes: Vec<&str> =
        report["notes"].as_array().unwrap().iter().map(|n| n.as_str().unwrap()).collect();
    assert!(
        notes
            .iter()
            .any(|n| n.starts_with("fan-out sweep, classic recvmmsg 1× (1 socket, the baseline")),
        "{notes:?}"
    );
    // 2 sockets either ran (with its efficiency) or are named as not measurable.
    assert!(
        notes.iter().any(|n| n.contains("(2 sockets)") && n.contains("scaling efficiency"))
            || notes
                .iter()
                .any(|n| n.starts_with("fan-out sweep: 2 sockets") && n.contains("not measurable")),
        "{notes:?}"
    );
    // The sweep's data, chart and section: the baseline point with its per-socket share.
    let sw = &report["fanout_sweep"];
    assert_eq!(sw["points"][0]["sockets"], 1, "{sw}");
    assert!(sw["points"][0]["share"]["est"].as_f64().is_some(), "{sw}");
    assert!(out.join("fanout-sweep.svg").exists());
    let md = std::fs::read_to_string(out.join("report.md")).unwrap();
    assert!(md.contains("## Fan-out sweep") && md.contains("per-socket share"), "{md}");
    let _ = std::fs::remove_dir_all(&out);
}
