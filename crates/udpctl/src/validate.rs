//! Request validation: what a server accepts before it binds anything.

use crate::msg::RunRequest;

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

#[cfg(test)]
mod tests {
    use super::*;
    use udpprobe::Clock;

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
