//! The sender agent across two network namespaces (the veth pair of `scripts/netns.sh`,
//! 198.18.0.1 in tx <-> 198.18.0.2 in rx) standing for two hosts: `udpflood agent` runs in the
//! tx namespace; in the rx namespace a controller drives it over TCP across the veth and a udprx
//! receiver (the engine executor of `udprx serve`) counts what arrives. The counts balance; a
//! controller that vanishes mid-flood stops it. Needs root and iproute2; skips visibly otherwise.

#[path = "../../../testsupport/agent_lab.rs"]
mod agent_lab;
#[path = "../../../testsupport/skip.rs"]
mod skip;

use std::io::Write;
use std::net::{IpAddr, TcpStream, UdpSocket};
use std::time::{Duration, Instant};

use udpctl::client::AgentClient;
use udpctl::msg::{self, ClientMsg};
use udpctl::{ClientConfig, ClientError, ErrorCode, FloodRequest, RunExecutor, RunRequest};
use udpprobe::Clock;
use udprx_cli::control::{EngineExecutor, ExecutorConfig};

const BIN: &str = env!("CARGO_BIN_EXE_udpflood");
const TOKEN: &str = "agent-test-token";

type Lab = agent_lab::AgentLab;

macro_rules! lab_or_skip {
    () => {
        match Lab::up("uag", BIN, TOKEN, "100k") {
            Ok(l) => l,
            Err((need, reason)) => return skip::skip(need, &reason),
        }
    };
}

fn flood_req(port: u16, duration_ms: u64) -> FloodRequest {
    FloodRequest {
        target_port: port,
        target_ip: None,
        rate_pps: 20_000,
        duration_ms,
        flows: 2,
        payload_size: 64,
        gso: false,
        threads: 1,
        cpus: None,
        clock: Clock::Monotonic,
    }
}

#[test]
fn a_paced_flood_through_the_agent_balances_at_a_udprx_receiver() {
    let lab = lab_or_skip!();
    let control = lab.control;
    let (result, summary, offset) = lab.in_rx(move || {
        let exec = EngineExecutor::new(ExecutorConfig {
            cpus: Some(Vec::new()),
            rcvbuf: Some(8 << 20),
            ..ExecutorConfig::default()
        });
        let rx_req = RunRequest {
            method: "recvmmsg".into(),
            sockets: 1,
            duration_ms: 1000,
            data_port: 0,
            senders: 1,
            flows: 2,
            run_id: None,
            clock: Clock::Monotonic,
            buffer_size: None,
            flow_budget: None,
        };
        let rx_ip: IpAddr = "198.18.0.2".parse().unwrap();
        let mut handle = exec.prepare(&rx_req, rx_ip).expect("udprx receiver");
        handle.begin().unwrap();
        let cc = ClientConfig::default();
        // Wrong token first: refused.
        let e = AgentClient::connect(control, Some("wrong"), &cc).unwrap_err();
        assert!(matches!(&e, ClientError::Server(r) if r.code == ErrorCode::Unauthorized), "{e}");
        let mut agent = AgentClient::connect(control, Some(TOKEN), &cc).expect("agent");
        assert_eq!(agent.hello().controller_ip, rx_ip, "the agent sees us at our veth address");
        let offset = agent.estimate_offset(Clock::Monotonic, 8).unwrap();
        // A target other than us is refused (the agent has no --allow-target).
        let mut other = flood_req(handle.data_port(), 500);
        other.target_ip = Some("198.18.0.3".parse().unwrap());
        let e = agent.flood(&other).unwrap_err();
        assert!(matches!(&e, ClientError::Server(r) if r.code == ErrorCode::Invalid), "{e}");
        let mut agent = AgentClient::connect(control, Some(TOKEN), &cc).expect("agent");
        let result = agent.flood(&flood_req(handle.data_port(), 500)).expect("flood");
        assert_eq!(result.flows, 2);
        let sender = result.to_sender_report(0);
        let report = handle.finish(Duration::from_millis(300), &[sender]).unwrap();
        (result, report.summary, offset)
    });
    assert!(result.sent > 0 && !result.stopped_early, "{result:?}");
    assert_eq!(result.target.ip(), IpAddr::from([198, 18, 0, 2]));
    assert_eq!(result.send_errors, 0);
    assert!(result.process_cpu_ns_per_datagram > 0.0);
    // Both namespaces share one kernel and CLOCK_MONOTONIC: the estimate must contain zero.
    assert!(offset.offset_ns.unsigned_abs() <= offset.error_bound_ns, "{offset:?}");
    // The books: every datagram the agent sent was received or dropped by the receive socket.
    assert_eq!(
        summary.received + summary.kernel_drops,
        result.sent,
        "sent {} = received {} + socket drops {}",
        result.sent,
        summary.received,
        summary.kernel_drops
    );
}

#[test]
fn a_vanished_controller_stops_the_real_flood() {
    let lab = lab_or_skip!();
    let control = lab.control;
    let (after, during) = lab.in_rx(move || {
        let sock = UdpSocket::bind("198.18.0.2:0").unwrap();
        sock.set_read_timeout(Some(Duration::from_millis(50))).unwrap();
        let port = sock.local_addr().unwrap().port();
        let s = TcpStream::connect_timeout(&control, Duration::from_secs(5)).unwrap();
        let m = ClientMsg::Flood { token: Some(TOKEN.into()), request: flood_req(port, 20_000) };
        (&s).write_all(&udpctl::frame::encode_frame(&msg::encode(&m)).unwrap()).unwrap();
        let mut buf = [0u8; 2048];
        let mut during = 0u64;
        let t0 = Instant::now();
        while t0.elapsed() < Duration::from_millis(500) {
            if sock.recv(&mut buf).is_ok() {
                during += 1;
            }
        }
        drop(s);
        // Within 1 s of the drop the flood has stopped; drain what was in flight.
        let gone = Instant::now();
        while gone.elapsed() < Duration::from_millis(1000) {
            let _ = sock.recv(&mut buf);
        }
        let mut after = 0u64;
        let t1 = Instant::now();
        while t1.elapsed() < Duration::from_millis(500) {
            if sock.recv(&mut buf).is_ok() {
                after += 1;
            }
        }
        (after, during)
    });
    assert!(during > 0, "the flood never arrived");
    assert_eq!(after, 0, "datagrams still arrived more than 1 s after the controller left");
}
