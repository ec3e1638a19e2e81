//! Who may ask for a run: a shared token compared in constant time, and a source allow-list.

use std::fmt;
use std::net::IpAddr;
use std::str::FromStr;

/// Compares two byte strings in time that depends only on the longer length, never on where
/// (or whether) they differ.
pub fn ct_eq(a: &[u8], b: &[u8]) -> bool {
    let n = a.len().max(b.len());
    let mut diff = (a.len() ^ b.len()) as u64;
    for i in 0..n {
        let x = a.get(i).copied().unwrap_or(0);
        let y = b.get(i).copied().unwrap_or(0);
        diff |= u64::from(x ^ y);
    }
    std::hint::black_box(diff) == 0
}

/// An IP prefix: an address and a prefix length (`198.18.0.0/15`, `::1/128`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct IpNet {
    addr: IpAddr,
    prefix: u8,
}

/// Why a string is not an address or prefix.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("'{input}' is not an IP address or CIDR prefix: {reason}")]
pub struct IpNetError {
    input: String,
    reason: &'static str,
}

impl IpNet {
    /// The prefix `addr/prefix`; host bits are cleared. `None` if the prefix is too long.
    pub fn new(addr: IpAddr, prefix: u8) -> Option<IpNet> {
        let addr = canonical(addr);
        let max = if addr.is_ipv4() { 32 } else { 128 };
        if prefix > max {
            return None;
        }
        let addr = match addr {
            IpAddr::V4(a) => IpAddr::V4((u32::from(a) & mask4(prefix)).into()),
            IpAddr::V6(a) => IpAddr::V6((u128::from(a) & mask6(prefix)).into()),
        };
        Some(IpNet { addr, prefix })
    }

    /// Whether `ip` lies in this prefix (IPv4-mapped IPv6 addresses count as IPv4).
    pub fn contains(&self, ip: IpAddr) -> bool {
        match (self.addr, canonical(ip)) {
            (IpAddr::V4(net), IpAddr::V4(ip)) => {
                u32::from(ip) & mask4(self.prefix) == u32::from(net)
            }
            (IpAddr::V6(net), IpAddr::V6(ip)) => {
                u128::from(ip) & mask6(self.prefix) == u128::from(net)
            }
            _ => false,
        }
    }
}

fn canonical(ip: IpAddr) -> IpAddr {
    match ip {
        IpAddr::V6(v6) => v6.to_ipv4_mapped().map(IpAddr::V4).unwrap_or(ip),
        v4 => v4,
    }
}

fn mask4(prefix: u8) -> u32 {
    if prefix == 0 { 0 } else { u32::MAX << (32 - u32::from(prefix)) }
}

fn mask6(prefix: u8) -> u128 {
    if prefix == 0 { 0 } else { u128::MAX << (128 - u32::from(prefix)) }
}

impl FromStr for IpNet {
    type Err = IpNetError;
    fn from_str(s: &str) -> Result<IpNet, IpNetError> {
        let err = |reason| IpNetError { input: s.to_string(), reason };
        let (addr, prefix) = match s.split_once('/') {
            Some((a, p)) => (a, Some(p)),
            None => (s, None),
        };
        let addr: IpAddr = addr.trim().parse().map_err(|_| err("bad address"))?;
        let addr = canonical(addr);
        let max = if addr.is_ipv4() { 32 } else { 128 };
        let prefix = match prefix {
            None => max,
            Some(p) => {
                let p = p.trim();
                if p.is_empty() || p.len() > 3 || !p.bytes().all(|b| b.is_ascii_digit()) {
                    return Err(err("bad prefix length"));
                }
                p.parse::<u8>().map_err(|_| err("bad prefix length"))?
            }
        };
        IpNet::new(addr, prefix).ok_or_else(|| err("prefix length too long for the address"))
    }
}

impl fmt::Display for IpNet {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.addr, self.prefix)
    }
}

/// Source addresses allowed to use the control port. Empty means everyone.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct AllowList {
    nets: Vec<IpNet>,
}

impl AllowList {
    /// An allow-list of these prefixes (empty: allow all).
    pub fn new(nets: Vec<IpNet>) -> Self {
        AllowList { nets }
    }

    /// Whether `ip` may connect.
    pub fn allows(&self, ip: IpAddr) -> bool {
        self.nets.is_empty() || self.nets.iter().any(|n| n.contains(ip))
    }

    /// The prefixes.
    pub fn nets(&self) -> &[IpNet] {
        &self.nets
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn constant_time_compare() {
        assert!(ct_eq(b"", b""));
        assert!(ct_eq(b"token", b"token"));
        assert!(!ct_eq(b"token", b"tokem"));
        assert!(!ct_eq(b"token", b"token2"));
        assert!(!ct_eq(b"", b"x"));
        assert!(!ct_eq(b"abc\0", b"abc"));
    }

    #[test]
    fn parses_and_matches() {
        let net: IpNet = "198.18.0.0/15".parse().unwrap();
        assert!(net.contains("198.19.255.255".parse().unwrap()));
        assert!(!net.contains("198.20.0.1".parse().unwrap()));
        assert!(net.contains("::ffff:198.18.0.2".parse().unwrap()));
        let host: IpNet = "127.0.0.1".parse().unwrap();
        assert_eq!(host.to_string(), "127.0.0.1/32");
        assert!(host.contains("127.0.0.1".parse().unwrap()));
        assert!(!host.contains("127.0.0.2".parse().unwrap()));
        let masked: IpNet = "127.1.2.3/8".parse().unwrap();
        assert_eq!(masked.to_string(), "127.0.0.0/8");
        let v6: IpNet = "::1".parse().unwrap();
        assert!(v6.contains("::1".parse().unwrap()));
        assert!(!v6.contains("127.0.0.1".parse().unwrap()));
        let all: IpNet = "0.0.0.0/0".parse().unwrap();
        assert!(all.contains("198.18.0.1".parse().unwrap()));
        let fe80: IpNet = "fe80::/10".parse().unwrap();
        assert!(fe80.contains("fe80::1".parse().unwrap()));
        for bad in
            ["", "1.2.3", "1.2.3.4/33", "::1/129", "1.2.3.4/", "1.2.3.4/-1", "x/8", "1.2.3.4/+8"]
        {
            assert!(bad.parse::<IpNet>().is_err(), "{bad}");
        }
    }

    #[test]
    fn allow_list() {
        assert!(AllowList::default().allows("198.18.0.1".parse().unwrap()));
        let list = AllowList::new(vec!["127.0.0.0/8".parse().unwrap()]);
        assert!(list.allows("127.0.0.1".parse().unwrap()));
        assert!(!list.allows("198.18.0.1".parse().unwrap()));
    }
}
