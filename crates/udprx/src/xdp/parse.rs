//! User-space parsing of the frames an AF_XDP socket receives: Ethernet → IPv4/IPv6 → UDP,
//! every length checked, nothing trusted from the frame.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};

const ETH: usize = 14;

/// Where a UDP datagram's payload sits in a frame.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Udp {
    /// Offset of the payload in the frame.
    pub offset: usize,
    /// Payload bytes present in the frame.
    pub len: usize,
    /// The UDP length field says more than the frame holds.
    pub truncated: bool,
    /// Sender address and port.
    pub source: SocketAddr,
}

/// Why a frame is not a UDP datagram this path can hand on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Reject {
    /// Shorter than the headers it announces.
    Short,
    /// Not IPv4/IPv6, not UDP, or a later fragment.
    NotUdp,
}

/// Parses one frame.
pub fn udp(frame: &[u8]) -> Result<Udp, Reject> {
    let eth = frame.get(..ETH).ok_or(Reject::Short)?;
    match u16::from_be_bytes([eth[12], eth[13]]) {
        0x0800 => {
            let ip = frame.get(ETH..ETH + 20).ok_or(Reject::Short)?;
            if ip[0] >> 4 != 4 || ip[9] != 17 {
                return Err(Reject::NotUdp);
            }
            if u16::from_be_bytes([ip[6], ip[7]]) & 0x1fff != 0 {
                return Err(Reject::NotUdp);
            }
            let ihl = (ip[0] & 0x0f) as usize * 4;
            if ihl < 20 {
                return Err(Reject::Short);
            }
            let src = Ipv4Addr::new(ip[12], ip[13], ip[14], ip[15]);
            datagram(frame, ETH + ihl, IpAddr::V4(src))
        }
        0x86dd => {
            let ip = frame.get(ETH..ETH + 40).ok_or(Reject::Short)?;
            if ip[0] >> 4 != 6 || ip[6] != 17 {
                return Err(Reject::NotUdp);
            }
            let mut src = [0u8; 16];
            src.copy_from_slice(&ip[8..24]);
            datagram(frame, ETH + 40, IpAddr::V6(Ipv6Addr::from(src)))
        }
        _ => Err(Reject::NotUdp),
    }
}

fn datagram(frame: &[u8], at: usize, src: IpAddr) -> Result<Udp, Reject> {
    let h = frame.get(at..at + 8).ok_or(Reject::Short)?;
    let sport = u16::from_be_bytes([h[0], h[1]]);
    let ulen = u16::from_be_bytes([h[4], h[5]]) as usize;
    if ulen < 8 {
        return Err(Reject::Short);
    }
    let offset = at + 8;
    let present = frame.len() - offset;
    let want = ulen - 8;
    Ok(Udp {
        offset,
        len: want.min(present),
        truncated: want > present,
        source: SocketAddr::new(src, sport),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn v4_frame(payload: &[u8], ihl_words: u8, udp_len: u16) -> Vec<u8> {
        let mut f = vec![0u8; 12];
        f.extend_from_slice(&[0x08, 0x00]);
        let ihl = ihl_words as usize * 4;
        let mut ip = vec![0u8; ihl];
        ip[0] = 0x40 | ihl_words;
        ip[9] = 17;
        ip[12..16].copy_from_slice(&[198, 18, 0, 1]);
        ip[16..20].copy_from_slice(&[198, 18, 0, 2]);
        f.extend(ip);
        f.extend_from_slice(&4000u16.to_be_bytes());
        f.extend_from_slice(&9000u16.to_be_bytes());
        f.extend_from_slice(&udp_len.to_be_bytes());
        f.extend_from_slice(&[0, 0]);
        f.extend_from_slice(payload);
        f
    }

    #[test]
    fn ipv4_with_options_and_padding() {
        let f = v4_frame(b"hello", 6, 13);
        let u = udp(&f).unwrap();
        assert_eq!(&f[u.offset..u.offset + u.len], b"hello");
        assert_eq!(u.source, "198.18.0.1:4000".parse().unwrap());
        assert!(!u.truncated);
        // Ethernet padding after the datagram is not payload.
        let mut padded = v4_frame(b"hi", 5, 10);
        padded.extend_from_slice(&[0; 20]);
        assert_eq!(udp(&padded).unwrap().len, 2);
    }

    #[test]
    fn cut_foreign_and_short_frames_are_told_apart() {
        let f = v4_frame(b"hello", 5, 100);
        let u = udp(&f).unwrap();
        assert!(u.truncated);
        assert_eq!(u.len, 5);
        assert_eq!(udp(&f[..30]), Err(Reject::Short));
        assert_eq!(udp(&[0u8; 5]), Err(Reject::Short));
        let mut icmp = v4_frame(b"x", 5, 9);
        icmp[14 + 9] = 1;
        assert_eq!(udp(&icmp), Err(Reject::NotUdp));
        let mut arp = v4_frame(b"x", 5, 9);
        arp[12..14].copy_from_slice(&[0x08, 0x06]);
        assert_eq!(udp(&arp), Err(Reject::NotUdp));
        let mut bad_ihl = v4_frame(b"x", 5, 9);
        bad_ihl[14] = 0x43;
        assert_eq!(udp(&bad_ihl), Err(Reject::Short));
        let mut later_fragment = v4_frame(b"x", 5, 9);
        later_fragment[14 + 7] = 1;
        assert_eq!(udp(&later_fragment), Err(Reject::NotUdp));
        assert_eq!(udp(&v4_frame(b"", 5, 4)), Err(Reject::Short));
    }

    #[test]
    fn ipv6() {
        let mut f = vec![0u8; 12];
        f.extend_from_slice(&[0x86, 0xdd]);
        let mut ip = [0u8; 40];
        ip[0] = 0x60;
        ip[6] = 17;
        let src: Ipv6Addr = "2001:2::1".parse().unwrap();
        ip[8..24].copy_from_slice(&src.octets());
        f.extend_from_slice(&ip);
        f.extend_from_slice(&[0x0f, 0xa0, 0x23, 0x28, 0, 11, 0, 0, 1, 2, 3]);
        let u = udp(&f).unwrap();
        assert_eq!(u.source, "[2001:2::1]:4000".parse().unwrap());
        assert_eq!(&f[u.offset..], &[1, 2, 3]);
    }

    proptest::proptest! {
        #[test]
        fn never_panics_and_stays_inside(frame in proptest::collection::vec(proptest::num::u8::ANY, 0..200)) {
            if let Ok(u) = udp(&frame) {
                proptest::prop_assert!(u.offset + u.len <= frame.len());
            }
        }
    }
}
