//! Per-socket drop counters from `/proc/net/udp{,6}`, matched by socket inode.

use std::os::fd::RawFd;

/// The inode of the socket behind `fd` (from `/proc/self/fd`), if it can be read.
pub(crate) fn socket_inode(fd: RawFd) -> Option<u64> {
    let link = std::fs::read_link(format!("/proc/self/fd/{fd}")).ok()?;
    let s = link.to_str()?;
    s.strip_prefix("socket:[")?.strip_suffix(']')?.parse().ok()
}

/// The `drops` column for the socket with this inode, read from the calling thread's network
/// namespace (`/proc/thread-self/net/udp` and `udp6`).
pub(crate) fn udp_drops(inode: u64) -> Option<u64> {
    for file in ["/proc/thread-self/net/udp", "/proc/thread-self/net/udp6"] {
        if let Ok(text) = std::fs::read_to_string(file)
            && let Some(d) = find_drops(&text, inode)
        {
            return Some(d);
        }
    }
    None
}

fn find_drops(text: &str, inode: u64) -> Option<u64> {
    for line in text.lines().skip(1) {
        let cols: Vec<&str> = line.split_whitespace().collect();
        if cols.len() >= 13 && cols[9].parse::<u64>().ok() == Some(inode) {
            return cols.last()?.parse().ok();
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_proc_net_udp() {
        let text = "   sl  local_address rem_address   st tx_queue rx_queue tr tm->when retrnsmt   uid  timeout inode ref pointer drops\n\
  123: 0100007F:2328 00000000:0000 07 00000000:00000000 00:00000000 00000000     0        0 4242 2 0000000000000000 17\n";
        assert_eq!(find_drops(text, 4242), Some(17));
        assert_eq!(find_drops(text, 1), None);
    }

    #[test]
    fn own_socket_is_found() {
        use std::os::fd::AsRawFd;
        let s = std::net::UdpSocket::bind("127.0.0.1:0").unwrap();
        let ino = socket_inode(s.as_raw_fd()).expect("inode");
        assert_eq!(udp_drops(ino), Some(0));
    }
}
