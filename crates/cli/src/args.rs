//! Argument types the `udprx` and `udpflood` command lines share.

/// A parsed `--cpus` value (a newtype so clap takes it as one value, not many).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CpuList(pub Vec<usize>);

/// Parses a CPU list: `0,1,3`, `0-3` (udpflood's parser), or `none` (no pinning).
pub fn parse_cpus(s: &str) -> Result<Vec<usize>, String> {
    if s == "none" {
        return Ok(Vec::new());
    }
    udpflood::units::parse_cpu_list(s).map_err(|e| e.to_string())
}

/// `--cpus` of the receiver commands: a CPU list or `none` (see [`parse_cpus`]).
pub fn parse_cpu_list(s: &str) -> Result<CpuList, String> {
    parse_cpus(s).map(CpuList)
}

/// `--cpus` of udpflood: a CPU list to pin the sender threads to (`none` is not one: leave the
/// option out to spread the threads).
pub fn parse_pinned_cpu_list(s: &str) -> Result<CpuList, String> {
    udpflood::units::parse_cpu_list(s).map(CpuList).map_err(|e| match e {
        udpflood::Error::Parse { reason, .. } => reason,
        other => other.to_string(),
    })
}

/// The engine's builder calls, as its errors name them, and the flags that set them here
/// (longest first, so that `` `sockets(1)` `` wins over `` `sockets` ``).
const FLAGS: &[(&str, &str)] = &[
    ("`method(Method::Recvmmsg)`", "--method recvmmsg"),
    ("`method(Method::Auto)`", "--method auto"),
    ("`method(Method::Uring)`", "--method uring"),
    ("`method(Method::UringRecv)`", "--method uring-recv"),
    ("`method(Method::Epoll)`", "--method epoll"),
    ("`steer(Steer::Hash)`", "--steer hash"),
    ("`steer(Steer::Cpu)`", "--steer cpu"),
    ("`iface(Some(name))`", "--iface NAME"),
    ("`share_port(true)`", "--share-port"),
    ("`force(true)`", "--force"),
    ("`sockets(1)`", "--sockets 1"),
    ("`ring_buffers`", "--ring-buffers"),
    ("`buffer_size`", "--buffer-size"),
    ("`share_port`", "--share-port"),
    ("`timestamps`", "--timestamps"),
    ("`prefer_busy_poll`", "--prefer-busy-poll"),
    ("`busy_poll_budget`", "--busy-poll-budget"),
    ("`busy_poll`", "--busy-poll"),
    ("`sockets`", "--sockets"),
    ("`rcvbuf`", "--rcvbuf"),
    ("`method`", "--method"),
    ("`batch`", "--batch"),
    ("`cpus`", "--cpus"),
    ("`gro`", "--gro"),
    ("`source_addresses`", "--sources"),
    ("`drops_per_interval`", "--drops-per-datagram"),
];

/// An engine error in this command line's terms: the builder calls its message names become
/// the flags that set them.
pub fn cli_message(e: &udprx::Error) -> String {
    let mut m = e.to_string();
    for (call, flag) in FLAGS {
        if m.contains(call) {
            m = m.replace(call, flag);
        }
    }
    m
}

/// clap's error message on one line, whole: its lines up to the usage hint joined, without
/// the `error: ` prefix (`the following required arguments were not provided: --server
/// <ADDR:PORT>`, not the first line alone, which names nothing).
pub fn clap_reason(e: &clap::Error) -> String {
    let text = e.render().to_string();
    let mut parts = Vec::new();
    for line in text.lines() {
        let line = line.trim();
        if line.starts_with("Usage:") || line.starts_with("For more information") {
            break;
        }
        if !line.is_empty() {
            parts.push(line.trim_start_matches("error:").trim());
        }
    }
    if parts.is_empty() { "invalid arguments".to_string() } else { parts.join(" ") }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cpu_lists() {
        assert_eq!(parse_cpu_list("0,2-3"), Ok(CpuList(vec![0, 2, 3])));
        assert_eq!(parse_cpu_list("none"), Ok(CpuList(vec![])));
        assert_eq!(parse_pinned_cpu_list("1-2"), Ok(CpuList(vec![1, 2])));
        assert!(parse_pinned_cpu_list("none").is_err());
        let e = parse_pinned_cpu_list("3-1").unwrap_err();
        assert!(e.contains("backwards"), "{e}");
        assert!(parse_cpu_list("3-1").is_err());
    }
}
