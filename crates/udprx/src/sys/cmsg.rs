//! Decoding of the control messages and socket addresses the kernel writes into receive buffers,
//! and encoding of the one control message a reply may carry (the source address).
//!
//! Both are read from byte slices with bounds checks, without `unsafe`, so the same code serves
//! the `recvmmsg` header arrays and the io_uring `RecvMsgOut` layout.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr, SocketAddrV4, SocketAddrV6};

/// Control-buffer space per datagram without PKTINFO/ECN: SO_RXQ_OVFL (16) + SCM_TIMESTAMPNS
/// (32) + UDP_GRO (16), with room to spare. A multiple of 8 so that the next field stays aligned.
pub(crate) const CONTROL_LEN_BASE: usize = 96;
/// Control-buffer space per datagram with PKTINFO and/or ECN on: the base plus IPV6_PKTINFO (40)
/// and IPV6_TCLASS (24) — or their IPv4 counterparts, which are smaller — with room to spare.
pub(crate) const CONTROL_LEN: usize = 160;
/// Name (source address) space per datagram: a `sockaddr_in6` (28) rounded up to 8.
pub(crate) const NAME_LEN: usize = 32;

const UDP_GRO: i32 = 104;
const HDR_LEN: usize = std::mem::size_of::<libc::cmsghdr>();
const WORD: usize = std::mem::size_of::<usize>();

/// What the control messages of one datagram said.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub(crate) struct CmsgInfo {
    /// SO_RXQ_OVFL: the socket's cumulative drop counter.
    pub drops: Option<u32>,
    /// UDP_GRO: the segment size of a coalesced buffer (0 if none).
    pub segment_size: u16,
    /// SCM_TIMESTAMPNS as CLOCK_REALTIME ns.
    pub rx_ns: Option<u64>,
    /// IP_PKTINFO / IPV6_PKTINFO: the destination address the datagram was sent to.
    pub dst_ip: Option<IpAddr>,
    /// IP_PKTINFO / IPV6_PKTINFO: the index of the interface it arrived on.
    pub ifindex: Option<u32>,
    /// IP_TOS / IPV6_TCLASS: the two ECN bits.
    pub ecn: Option<u8>,
}

/// The control length the kernel wrote back into `h`, capped at [`CONTROL_LEN`].
#[inline]
#[allow(clippy::unnecessary_cast)] // `msg_controllen` is size_t on glibc, socklen_t on musl
pub(crate) fn control_len(h: &libc::msghdr) -> usize {
    (h.msg_controllen as usize).min(CONTROL_LEN)
}

#[inline]
fn align(n: usize) -> usize {
    (n + WORD - 1) & !(WORD - 1)
}

#[inline]
fn ne_u32(b: &[u8]) -> Option<u32> {
    Some(u32::from_ne_bytes(b.get(..4)?.try_into().ok()?))
}

#[inline]
fn ne_i64(b: &[u8]) -> Option<i64> {
    Some(i64::from_ne_bytes(b.get(..8)?.try_into().ok()?))
}

/// Walks the `cmsghdr` records in `control` (the layout of `CMSG_FIRSTHDR`/`CMSG_NXTHDR`).
#[inline]
pub(crate) fn parse(control: &[u8]) -> CmsgInfo {
    let mut info = CmsgInfo::default();
    let mut off = 0usize;
    while off + HDR_LEN <= control.len() {
        let h = &control[off..];
        let len = usize::from_ne_bytes(h[..WORD].try_into().unwrap_or([0; WORD]));
        if len < HDR_LEN || off + len > control.len() {
            break;
        }
        let level = i32::from_ne_bytes(h[WORD..WORD + 4].try_into().unwrap_or([0; 4]));
        let kind = i32::from_ne_bytes(h[WORD + 4..WORD + 8].try_into().unwrap_or([0; 4]));
        let data = &h[HDR_LEN..len];
        match (level, kind) {
            (libc::SOL_SOCKET, libc::SO_RXQ_OVFL) => info.drops = ne_u32(data),
            (libc::SOL_SOCKET, libc::SCM_TIMESTAMPNS) => {
                if let (Some(sec), Some(nsec)) = (ne_i64(data), data.get(8..).and_then(ne_i64)) {
                    info.rx_ns = Some(sec as u64 * 1_000_000_000 + nsec as u64);
                }
            }
            (libc::SOL_UDP, UDP_GRO) => {
                info.segment_size = ne_u32(data).map(|v| v.min(u16::MAX as u32) as u16).unwrap_or(0)
            }
            // struct in_pktinfo { int ipi_ifindex; in_addr ipi_spec_dst; in_addr ipi_addr; }
            (libc::IPPROTO_IP, libc::IP_PKTINFO) => {
                if let Some(ip) = data.get(8..12).and_then(|b| <[u8; 4]>::try_from(b).ok()) {
                    info.ifindex = ne_u32(data);
                    info.dst_ip = Some(IpAddr::V4(Ipv4Addr::from(ip)));
                }
            }
            // struct in6_pktinfo { in6_addr ipi6_addr; int ipi6_ifindex; }
            (libc::IPPROTO_IPV6, libc::IPV6_PKTINFO) => {
                if let Some(ip) = data.get(..16).and_then(|b| <[u8; 16]>::try_from(b).ok()) {
                    info.ifindex = data.get(16..).and_then(ne_u32);
                    let ip = Ipv6Addr::from(ip);
                    // A v4-mapped destination on a dual-stack socket is an IPv4 datagram.
                    info.dst_ip = Some(match ip.to_ipv4_mapped() {
                        Some(v4) => IpAddr::V4(v4),
                        None => IpAddr::V6(ip),
                    });
                }
            }
            // IP_TOS arrives as one byte; IPV6_TCLASS as an int.
            (libc::IPPROTO_IP, libc::IP_TOS) => info.ecn = data.first().map(|t| t & 0b11),
            (libc::IPPROTO_IPV6, libc::IPV6_TCLASS) => {
                info.ecn = ne_u32(data).map(|t| (t & 0b11) as u8)
            }
            _ => {}
        }
        off += align(len);
    }
    info
}

/// Decodes a `sockaddr_in`/`sockaddr_in6` as written by the kernel.
#[inline]
pub(crate) fn sockaddr(b: &[u8]) -> Option<SocketAddr> {
    let family = u16::from_ne_bytes(b.get(..2)?.try_into().ok()?) as i32;
    let port = u16::from_be_bytes(b.get(2..4)?.try_into().ok()?);
    match family {
        libc::AF_INET => {
            let ip: [u8; 4] = b.get(4..8)?.try_into().ok()?;
            Some(SocketAddr::V4(SocketAddrV4::new(Ipv4Addr::from(ip), port)))
        }
        libc::AF_INET6 => {
            let flow = u32::from_be_bytes(b.get(4..8)?.try_into().ok()?);
            let ip: [u8; 16] = b.get(8..24)?.try_into().ok()?;
            let scope = b.get(24..28).and_then(ne_u32).unwrap_or(0);
            Some(SocketAddr::V6(SocketAddrV6::new(Ipv6Addr::from(ip), port, flow, scope)))
        }
        _ => None,
    }
}

/// Space for one source-address control message on send: an `in6_pktinfo` (20 bytes) after a
/// `cmsghdr`, aligned; an `in_pktinfo` (12) fits too.
pub(crate) const SEND_CONTROL_LEN: usize = 40;

/// Writes an IP_PKTINFO (IPv4 source) or IPV6_PKTINFO (IPv6 source) control message asking the
/// kernel to send from `src` (and out of `ifindex`, 0 = routing decides) into `out`; returns its
/// length (0 when `out` is too small). An IPv4 source is written as IP_PKTINFO, which Linux also
/// takes on a dual-stack IPv6 socket.
pub(crate) fn write_src(out: &mut [u8], src: IpAddr, ifindex: u32) -> usize {
    let (level, kind, data_len) = match src {
        IpAddr::V4(_) => (libc::IPPROTO_IP, libc::IP_PKTINFO, 12),
        IpAddr::V6(_) => (libc::IPPROTO_IPV6, libc::IPV6_PKTINFO, 20),
    };
    let len = HDR_LEN + data_len;
    let total = align(len);
    let Some(buf) = out.get_mut(..total) else { return 0 };
    buf.fill(0);
    buf[..WORD].copy_from_slice(&len.to_ne_bytes());
    buf[WORD..WORD + 4].copy_from_slice(&level.to_ne_bytes());
    buf[WORD + 4..WORD + 8].copy_from_slice(&kind.to_ne_bytes());
    let data = &mut buf[HDR_LEN..HDR_LEN + data_len];
    match src {
        IpAddr::V4(ip) => {
            // ipi_ifindex, ipi_spec_dst (the source to use), ipi_addr (ignored on send)
            data[..4].copy_from_slice(&ifindex.to_ne_bytes());
            data[4..8].copy_from_slice(&ip.octets());
        }
        IpAddr::V6(ip) => {
            data[..16].copy_from_slice(&ip.octets());
            data[16..20].copy_from_slice(&ifindex.to_ne_bytes());
        }
    }
    total
}

/// Writes one control message carrying `data` at (`level`, `kind`) into `out`; returns its
/// aligned length (0 when `out` is too small).
pub(crate) fn write_cmsg(out: &mut [u8], level: i32, kind: i32, data: &[u8]) -> usize {
    let len = HDR_LEN + data.len();
    let total = align(len);
    let Some(buf) = out.get_mut(..total) else { return 0 };
    buf.fill(0);
    buf[..WORD].copy_from_slice(&len.to_ne_bytes());
    buf[WORD..WORD + 4].copy_from_slice(&level.to_ne_bytes());
    buf[WORD + 4..WORD + 8].copy_from_slice(&kind.to_ne_bytes());
    buf[HDR_LEN..len].copy_from_slice(data);
    total
}

/// Encodes `addr` as a `sockaddr_in`/`sockaddr_in6` into `out` (at least 28 bytes); returns the
/// length to pass. With `v6_socket`, an IPv4 address is written v4-mapped, as an AF_INET6 socket
/// needs it.
pub(crate) fn write_sockaddr(out: &mut [u8; NAME_LEN], addr: SocketAddr, v6_socket: bool) -> usize {
    out.fill(0);
    let v6 = match addr {
        SocketAddr::V4(a) if !v6_socket => {
            out[..2].copy_from_slice(&(libc::AF_INET as u16).to_ne_bytes());
            out[2..4].copy_from_slice(&a.port().to_be_bytes());
            out[4..8].copy_from_slice(&a.ip().octets());
            return std::mem::size_of::<libc::sockaddr_in>();
        }
        SocketAddr::V4(a) => SocketAddrV6::new(a.ip().to_ipv6_mapped(), a.port(), 0, 0),
        SocketAddr::V6(a) => a,
    };
    out[..2].copy_from_slice(&(libc::AF_INET6 as u16).to_ne_bytes());
    out[2..4].copy_from_slice(&v6.port().to_be_bytes());
    out[4..8].copy_from_slice(&v6.flowinfo().to_be_bytes());
    out[8..24].copy_from_slice(&v6.ip().octets());
    out[24..28].copy_from_slice(&v6.scope_id().to_ne_bytes());
    std::mem::size_of::<libc::sockaddr_in6>()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn push(buf: &mut Vec<u8>, level: i32, kind: i32, data: &[u8]) {
        let len = HDR_LEN + data.len();
        buf.extend_from_slice(&len.to_ne_bytes());
        buf.extend_from_slice(&level.to_ne_bytes());
        buf.extend_from_slice(&kind.to_ne_bytes());
        buf.extend_from_slice(data);
        buf.resize(align(buf.len()), 0);
    }

    #[test]
    fn parses_all_three() {
        let mut b = Vec::new();
        push(&mut b, libc::SOL_SOCKET, libc::SO_RXQ_OVFL, &7u32.to_ne_bytes());
        let mut ts = 3i64.to_ne_bytes().to_vec();
        ts.extend_from_slice(&5i64.to_ne_bytes());
        push(&mut b, libc::SOL_SOCKET, libc::SCM_TIMESTAMPNS, &ts);
        push(&mut b, libc::SOL_UDP, UDP_GRO, &18i32.to_ne_bytes());
        assert!(b.len() <= CONTROL_LEN);
        let i = parse(&b);
        assert_eq!(
            i,
            CmsgInfo {
                drops: Some(7),
                segment_size: 18,
                rx_ns: Some(3_000_000_005),
                ..CmsgInfo::default()
            }
        );
    }

    #[test]
    fn parses_pktinfo_and_ecn() {
        let mut b = Vec::new();
        let mut p4 = 3u32.to_ne_bytes().to_vec();
        p4.extend_from_slice(&[198, 18, 0, 9, 198, 18, 0, 5]);
        push(&mut b, libc::IPPROTO_IP, libc::IP_PKTINFO, &p4);
        push(&mut b, libc::IPPROTO_IP, libc::IP_TOS, &[0xb9]);
        let i = parse(&b);
        assert_eq!(i.dst_ip, Some("198.18.0.5".parse().unwrap()));
        assert_eq!((i.ifindex, i.ecn), (Some(3), Some(1)));

        let mut b = Vec::new();
        let ip: Ipv6Addr = "2001:2::2".parse().unwrap();
        let mut p6 = ip.octets().to_vec();
        p6.extend_from_slice(&7u32.to_ne_bytes());
        push(&mut b, libc::IPPROTO_IPV6, libc::IPV6_PKTINFO, &p6);
        push(&mut b, libc::IPPROTO_IPV6, libc::IPV6_TCLASS, &3i32.to_ne_bytes());
        assert!(b.len() + 64 <= CONTROL_LEN);
        let i = parse(&b);
        assert_eq!((i.dst_ip, i.ifindex, i.ecn), (Some(IpAddr::V6(ip)), Some(7), Some(3)));

        // A v4-mapped destination reads as IPv4; a short record is ignored.
        let mut b = Vec::new();
        let mut p6 = Ipv4Addr::new(198, 18, 0, 1).to_ipv6_mapped().octets().to_vec();
        p6.extend_from_slice(&1u32.to_ne_bytes());
        push(&mut b, libc::IPPROTO_IPV6, libc::IPV6_PKTINFO, &p6);
        push(&mut b, libc::IPPROTO_IP, libc::IP_PKTINFO, &[1, 2]);
        assert_eq!(parse(&b).dst_ip, Some("198.18.0.1".parse().unwrap()));
    }

    #[test]
    fn writes_source_and_address() {
        let mut c = [0u8; SEND_CONTROL_LEN];
        let n = write_src(&mut c, "2001:2::1".parse().unwrap(), 4);
        assert_eq!(n, 40);
        let n4 = write_src(&mut c, "198.18.0.5".parse().unwrap(), 0);
        assert_eq!(n4, 32);
        assert_eq!(write_src(&mut c[..8], "198.18.0.5".parse().unwrap(), 0), 0);
        let mut a = [0u8; NAME_LEN];
        for (addr, v6) in [("127.0.0.1:53", false), ("[::1]:53", true)] {
            let addr: SocketAddr = addr.parse().unwrap();
            let n = write_sockaddr(&mut a, addr, v6);
            assert!(n == 16 || n == 28);
            assert_eq!(sockaddr(&a), Some(addr));
        }
        let n = write_sockaddr(&mut a, "127.0.0.1:9".parse().unwrap(), true);
        assert_eq!(n, 28);
        assert_eq!(sockaddr(&a), Some("[::ffff:127.0.0.1]:9".parse().unwrap()));
    }

    #[test]
    fn garbage_is_ignored() {
        assert_eq!(parse(&[0xff; 40]), CmsgInfo::default());
        assert_eq!(parse(&[]), CmsgInfo::default());
        assert_eq!(parse(&[1, 2, 3]), CmsgInfo::default());
    }

    #[test]
    fn sockaddrs() {
        let mut v4 = vec![0u8; 16];
        v4[..2].copy_from_slice(&(libc::AF_INET as u16).to_ne_bytes());
        v4[2..4].copy_from_slice(&9000u16.to_be_bytes());
        v4[4..8].copy_from_slice(&[127, 0, 0, 1]);
        assert_eq!(sockaddr(&v4), Some("127.0.0.1:9000".parse().unwrap()));
        let mut v6 = vec![0u8; 28];
        v6[..2].copy_from_slice(&(libc::AF_INET6 as u16).to_ne_bytes());
        v6[2..4].copy_from_slice(&53u16.to_be_bytes());
        v6[23] = 1;
        assert_eq!(sockaddr(&v6), Some("[::1]:53".parse().unwrap()));
        assert_eq!(sockaddr(&[0u8; 4]), None);
    }
}
