//! Request validation: what a server accepts before it binds anything.

use std::net::{IpAddr, SocketAddr};

use crate::auth::IpNet;
use crate::msg::{FloodLimitsMsg, FloodRequest, RunRequest};

/// Bounds a server enforces on run requests.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Limits {
    /// Shortest run, ms.
    pub min_duration_ms: u64,
    /// Longest run, ms.
    pub max_duration_ms: u64,
    /// Most receive sockets/threads.
    pub max_sockets: u32,
    /// Most senders in one N:1 run.
    pub max_senders: u32,
    /// Data ports below 1024 are refused unless this is set.
    pub allow_privileged_port: bool,
    /// Largest `flow_budget` a request may ask for (the server's own flow budget).
    pub max_flow_budget: u32,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            min_duration_ms: 100,
            max_duration_ms: 3_600_000,
            max_sockets: 64,
            max_senders: 16,
            allow_privileged_port: false,
            max_flow_budget: DEFAULT_MAX_FLOW_BUDGET,
        }
    }
}

/// A server's default flow budget per run (`udprx serve --flow-budget`): 65,536 flows.
pub const DEFAULT_MAX_FLOW_BUDGET: u32 = 65_536;

/// Longest accepted `run_id`.
pub const MAX_RUN_ID_LEN: usize = 64;

/// Largest per-datagram receive buffer a request may ask for: the largest UDP payload (and the
/// largest GRO segment), rounded up.
pub const MAX_BUFFER_SIZE: u32 = 65_536;

/// Smallest per-datagram receive buffer a request may ask for: one probe header.
pub const MIN_BUFFER_SIZE: u32 = udpprobe::HEADER_LEN as u32;

/// Flow indices are one byte on the wire: all senders' flows together must fit.
pub const MAX_FLOWS_TOTAL: u32 = 256;

/// Checks `req` against `limits` and the method names the executor offers.
pub fn validate(req: &RunRequest, limits: &Limits, methods: &[String]) -> Result<(), String> {
    if !methods.iter().any(|m| m == &req.method) {
        let method: String = req.method.chars().take(32).collect();
        return Err(format!(
            "unknown receive method '{}' (this server offers: {})",
            method.escape_default(),
            methods.join(", ")
        ));
    }
    if req.sockets == 0 || req.sockets > limits.max_sockets {
        return Err(format!("sockets must be 1..={}, got {}", limits.max_sockets, req.sockets));
    }
    if req.duration_ms < limits.min_duration_ms || req.duration_ms > limits.max_duration_ms {
        return Err(format!(
            "duration must be {}..={} ms, got {}",
            limits.min_duration_ms, limits.max_duration_ms, req.duration_ms
        ));
    }
    if req.data_port != 0 && req.data_port < 1024 && !limits.allow_privileged_port {
        return Err(format!(
            "data port {} is below 1024; the server refuses privileged ports unless started with \
             --allow-privileged-ports",
            req.data_port
        ));
    }
    if req.senders == 0 || req.senders > limits.max_senders {
        return Err(format!("senders must be 1..={}, got {}", limits.max_senders, req.senders));
    }
    if req.flows == 0 || u64::from(req.flows) * u64::from(req.senders) > u64::from(MAX_FLOWS_TOTAL)
    {
        return Err(format!(
            "flows per sender × senders must be 1..={MAX_FLOWS_TOTAL}, got {} × {}",
            req.flows, req.senders
        ));
    }
    if let Some(b) = req.buffer_size
        && !(MIN_BUFFER_SIZE..=MAX_BUFFER_SIZE).contains(&b)
    {
        return Err(format!(
            "buffer_size must be {MIN_BUFFER_SIZE}..={MAX_BUFFER_SIZE} bytes, got {b}"
        ));
    }
    if let Some(f) = req.flow_budget
        && (f == 0 || f > limits.max_flow_budget)
    {
        return Err(format!("flow_budget must be 1..={} flows, got {f}", limits.max_flow_budget));
    }
    let id_ok = |id: &str| {
        !id.is_empty()
            && id.len() <= MAX_RUN_ID_LEN
            && id.bytes().all(|b| b.is_ascii_alphanumeric() || b"._-".contains(&b))
    };
    match &req.run_id {
        Some(id) if !id_ok(id) => {
            return Err(format!(
                "run_id must be 1..={MAX_RUN_ID_LEN} characters of [A-Za-z0-9._-]"
            ));
        }
        None if req.senders > 1 => {
            return Err("a run with several senders needs a run_id that all of them give".into());
        }
        _ => {}
    }
    Ok(())
}

/// Bounds a sender agent enforces on flood requests (`udpflood agent --max-rate ...`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FloodLimits {
    /// Highest total rate, datagrams/s.
    pub max_rate_pps: u64,
    /// Shortest flood, ms.
    pub min_duration_ms: u64,
    /// Longest flood, ms.
    pub max_duration_ms: u64,
    /// Most sender threads.
    pub max_threads: u32,
    /// Targets beyond the controller's own address (the agent's `--allow-target`); empty:
    /// only the controller's address.
    pub allow_target: Vec<IpNet>,
}

/// An agent's default rate cap: 2 Mpps (raise it with `--max-rate` on the agent's command line).
pub const DEFAULT_MAX_FLOOD_RATE: u64 = 2_000_000;
/// An agent's default longest flood: 120 s.
pub const DEFAULT_MAX_FLOOD_MS: u64 = 120_000;

impl Default for FloodLimits {
    fn default() -> Self {
        FloodLimits {
            max_rate_pps: DEFAULT_MAX_FLOOD_RATE,
            min_duration_ms: 10,
            max_duration_ms: DEFAULT_MAX_FLOOD_MS,
            max_threads: 64,
            allow_target: Vec::new(),
        }
    }
}

impl FloodLimits {
    /// The bounds as announced in `hello`.
    pub fn to_msg(&self) -> FloodLimitsMsg {
        FloodLimitsMsg {
            max_rate_pps: self.max_rate_pps,
            max_duration_ms: self.max_duration_ms,
            max_threads: self.max_threads,
        }
    }
}

/// Checks a flood request against `limits` and picks its destination: `target_port` at the
/// controller's address `controller`, or at `target_ip` if that is the controller's address or
/// inside `limits.allow_target`. Never any other address.
pub fn validate_flood(
    req: &FloodRequest,
    limits: &FloodLimits,
    controller: IpAddr,
) -> Result<SocketAddr, String> {
    if req.rate_pps == 0 || req.rate_pps > limits.max_rate_pps {
        return Err(format!(
            "rate must be 1..={} datagrams/s (the agent's --max-rate), got {}",
            limits.max_rate_pps, req.rate_pps
        ));
    }
    if req.duration_ms < limits.min_duration_ms || req.duration_ms > limits.max_duration_ms {
        return Err(format!(
            "duration must be {}..={} ms (the agent's --max-duration), got {}",
            limits.min_duration_ms, limits.max_duration_ms, req.duration_ms
        ));
    }
    if req.threads == 0 || req.threads > limits.max_threads {
        return Err(format!("threads must be 1..={}, got {}", limits.max_threads, req.threads));
    }
    if req.flows < req.threads || req.flows > MAX_FLOWS_TOTAL {
        return Err(format!(
            "flows must be threads..={MAX_FLOWS_TOTAL} ({}..={MAX_FLOWS_TOTAL}), got {}",
            req.threads, req.flows
        ));
    }
    let max_payload = udpprobe_max_payload();
    if (req.payload_size as usize) < udpprobe::HEADER_LEN || req.payload_size > max_payload {
        return Err(format!(
            "payload_size must be {}..={max_payload} bytes, got {}",
            udpprobe::HEADER_LEN,
            req.payload_size
        ));
    }
    if let Some(cpus) = &req.cpus
        && (cpus.is_empty() || cpus.len() > 1024)
    {
        return Err("cpus must list 1..=1024 CPUs".into());
    }
    if req.target_port == 0 {
        return Err("target_port must be 1..=65535".into());
    }
    let controller = controller.to_canonical();
    let ip = match req.target_ip.map(|ip| ip.to_canonical()) {
        None => controller,
        Some(ip) if ip == controller => ip,
        Some(ip) if limits.allow_target.iter().any(|n| n.contains(ip)) => ip,
        Some(ip) => {
            return Err(format!(
                "target {ip} is neither the controller's address ({controller}) nor inside the                  agent's --allow-target"
            ));
        }
    };
    if ip.is_unspecified() || ip.is_multicast() || ip == IpAddr::from([255, 255, 255, 255]) {
        return Err(format!("target {ip} is not a unicast address"));
    }
    Ok(SocketAddr::new(ip, req.target_port))
}

/// Largest UDP payload (IPv4).
fn udpprobe_max_payload() -> u32 {
    65_507
}

#[cfg(test)]
mod tests {
    use super::*;
    use udpprobe::Clock;

    fn flood() -> FloodRequest {
        FloodRequest {
            target_port: 9000,
            target_ip: None,
            rate_pps: 1000,
            duration_ms: 500,
            flows: 1,
            payload_size: 18,
            gso: false,
            threads: 1,
            cpus: None,
            clock: Clock::Monotonic,
        }
    }

    #[test]
    fn floods_go_only_to_the_controller_or_allowed_targets() {
        let ctl: IpAddr = "198.18.0.1".parse().unwrap();
        let l = FloodLimits::default();
        assert_eq!(validate_flood(&flood(), &l, ctl).unwrap(), "198.18.0.1:9000".parse().unwrap());
        let same = FloodRequest { target_ip: Some(ctl), ..flood() };
        validate_flood(&same, &l, ctl).unwrap();
        let other = FloodRequest { target_ip: Some("198.18.0.9".parse().unwrap()), ..flood() };
        let e = validate_flood(&other, &l, ctl).unwrap_err();
        assert!(e.contains("--allow-target"), "{e}");
        let allowed = FloodLimits { allow_target: vec!["198.18.0.8/30".parse().unwrap()], ..l };
        assert_eq!(validate_flood(&other, &allowed, ctl).unwrap().ip(), other.target_ip.unwrap());
        let outside = FloodRequest { target_ip: Some("198.18.1.9".parse().unwrap()), ..flood() };
        assert!(validate_flood(&outside, &allowed, ctl).is_err());
        // A v4-mapped controller address is the same address.
        let mapped: IpAddr = "::ffff:198.18.0.1".parse().unwrap();
        assert_eq!(validate_flood(&same, &FloodLimits::default(), mapped).unwrap().ip(), ctl);
    }

    #[test]
    fn absurd_floods_are_refused() {
        let ctl: IpAddr = "127.0.0.1".parse().unwrap();
        let l = FloodLimits::default();
        let cases = [
            FloodRequest { rate_pps: 0, ..flood() },
            FloodRequest { rate_pps: DEFAULT_MAX_FLOOD_RATE + 1, ..flood() },
            FloodRequest { rate_pps: u64::MAX, ..flood() },
            FloodRequest { duration_ms: 0, ..flood() },
            FloodRequest { duration_ms: DEFAULT_MAX_FLOOD_MS + 1, ..flood() },
            FloodRequest { duration_ms: u64::MAX, ..flood() },
            FloodRequest { threads: 0, ..flood() },
            FloodRequest { threads: 65, flows: 65, ..flood() },
            FloodRequest { flows: 0, ..flood() },
            FloodRequest { flows: 257, ..flood() },
            FloodRequest { payload_size: 17, ..flood() },
            FloodRequest { payload_size: 65_508, ..flood() },
            FloodRequest { cpus: Some(vec![]), ..flood() },
            FloodRequest { target_port: 0, ..flood() },
        ];
        for req in cases {
            assert!(validate_flood(&req, &l, ctl).is_err(), "{req:?}");
        }
        let e = validate_flood(&FloodRequest { rate_pps: 10_000_000, ..flood() }, &l, ctl);
        assert!(e.unwrap_err().contains("--max-rate"));
    }

    fn ok() -> RunRequest {
        RunRequest {
            method: "recvmmsg".into(),
            sockets: 1,
            duration_ms: 1000,
            data_port: 0,
            senders: 1,
            flows: 1,
            run_id: None,
            clock: Clock::Monotonic,
            buffer_size: None,
            flow_budget: None,
        }
    }

    fn check(req: &RunRequest, limits: &Limits) -> Result<(), String> {
        validate(req, limits, &["recvfrom".into(), "recvmmsg".into()])
    }

    #[test]
    fn accepts_sane_requests() {
        let l = Limits::default();
        check(&ok(), &l).unwrap();
        check(&RunRequest { data_port: 1024, ..ok() }, &l).unwrap();
        check(&RunRequest { buffer_size: Some(4000), ..ok() }, &l).unwrap();
        check(&RunRequest { buffer_size: Some(MAX_BUFFER_SIZE), ..ok() }, &l).unwrap();
        check(&RunRequest { flow_budget: Some(1), ..ok() }, &l).unwrap();
        check(&RunRequest { flow_budget: Some(l.max_flow_budget), ..ok() }, &l).unwrap();
        check(&RunRequest { senders: 2, run_id: Some("lab-1.a_b".into()), ..ok() }, &l).unwrap();
        let privileged = Limits { allow_privileged_port: true, ..Limits::default() };
        check(&RunRequest { data_port: 53, ..ok() }, &privileged).unwrap();
    }

    #[test]
    fn rejects_out_of_bounds() {
        let l = Limits::default();
        let cases = [
            RunRequest { method: "sh -c".into(), ..ok() },
            RunRequest { sockets: 0, ..ok() },
            RunRequest { sockets: 65, ..ok() },
            RunRequest { duration_ms: 99, ..ok() },
            RunRequest { duration_ms: 3_600_001, ..ok() },
            RunRequest { data_port: 1023, ..ok() },
            RunRequest { data_port: 1, ..ok() },
            RunRequest { senders: 0, ..ok() },
            RunRequest { senders: 17, run_id: Some("x".into()), ..ok() },
            RunRequest { senders: 2, ..ok() },
            RunRequest { flows: 0, ..ok() },
            RunRequest { flows: 200, senders: 2, run_id: Some("x".into()), ..ok() },
            RunRequest { run_id: Some(String::new()), ..ok() },
            RunRequest { run_id: Some("../etc".replace('.', "/")), ..ok() },
            RunRequest { run_id: Some("x".repeat(65)), ..ok() },
            RunRequest { buffer_size: Some(0), ..ok() },
            RunRequest { buffer_size: Some(MIN_BUFFER_SIZE - 1), ..ok() },
            RunRequest { buffer_size: Some(MAX_BUFFER_SIZE + 1), ..ok() },
            RunRequest { buffer_size: Some(u32::MAX), ..ok() },
            RunRequest { flow_budget: Some(0), ..ok() },
            RunRequest { flow_budget: Some(DEFAULT_MAX_FLOW_BUDGET + 1), ..ok() },
            RunRequest { flow_budget: Some(u32::MAX), ..ok() },
        ];
        for req in cases {
            assert!(check(&req, &l).is_err(), "{req:?}");
        }
        let e = check(&RunRequest { data_port: 80, ..ok() }, &l).unwrap_err();
        assert!(e.contains("below 1024"), "{e}");
    }
}
