//! Decoding of the control messages and socket addresses the kernel writes into receive buffers.
//!
//! Both are read from byte slices with bounds checks, without `unsafe`, so the same code serves
//! the `recvmmsg` header arrays and the io_uring `RecvMsgOut` layout.

use std::net::{Ipv4Addr, Ipv6Addr, SocketAddr, SocketAddrV4, SocketAddrV6};

/// Control-buffer space per datagram: SO_RXQ_OVFL (16) + SCM_TIMESTAMPNS (32) + UDP_GRO (16),
/// with room to spare. A multiple of 8 so that the next field stays aligned.
pub(crate) const CONTROL_LEN: usize = 96;
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
        assert_eq!(i, CmsgInfo { drops: Some(7), segment_size: 18, rx_ns: Some(3_000_000_005) });
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
