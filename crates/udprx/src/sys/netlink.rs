//! Interfaces for the XDP paths: name ↔ index, which interface holds an address, its receive
//! queues, and (rtnetlink) which XDP program is attached and how to remove one.

use std::io;
use std::net::IpAddr;

const RTM_NEWLINK: u16 = 16;
const RTM_GETLINK: u16 = 18;
const RTM_SETLINK: u16 = 19;
const NLMSG_ERROR: u16 = 2;
const NLM_F_REQUEST: u16 = 1;
const NLM_F_ACK: u16 = 4;
const IFLA_XDP: u16 = 43;
const IFLA_XDP_FD: u16 = 1;
const IFLA_XDP_ATTACHED: u16 = 2;
const IFLA_XDP_FLAGS: u16 = 3;
const IFLA_XDP_PROG_ID: u16 = 4;
const NLA_F_NESTED: u16 = 1 << 15;

/// The index of interface `name`.
pub(crate) fn ifindex(name: &str) -> Option<u32> {
    let c = std::ffi::CString::new(name).ok()?;
    // SAFETY: `c` is a NUL-terminated string that outlives the call.
    let i = unsafe { libc::if_nametoindex(c.as_ptr()) };
    (i != 0).then_some(i)
}

/// The interface that carries `addr` (getifaddrs), by name.
pub(crate) fn iface_of(addr: IpAddr) -> io::Result<Option<String>> {
    let mut head: *mut libc::ifaddrs = std::ptr::null_mut();
    // SAFETY: `head` is a valid out-pointer; the list is freed below.
    if unsafe { libc::getifaddrs(&mut head) } != 0 {
        return Err(io::Error::last_os_error());
    }
    let mut found = None;
    let mut cur = head;
    while !cur.is_null() {
        // SAFETY: `cur` is a node of the list getifaddrs returned, not yet freed.
        let ifa = unsafe { &*cur };
        cur = ifa.ifa_next;
        if ifa.ifa_addr.is_null() {
            continue;
        }
        // SAFETY: a non-null ifa_addr points at a sockaddr whose family tells its real type.
        let family = unsafe { (*ifa.ifa_addr).sa_family } as i32;
        let a = match family {
            libc::AF_INET => {
                // SAFETY: AF_INET addresses are sockaddr_in.
                let sin = unsafe { &*(ifa.ifa_addr as *const libc::sockaddr_in) };
                IpAddr::from(u32::from_be(sin.sin_addr.s_addr).to_be_bytes())
            }
            libc::AF_INET6 => {
                // SAFETY: AF_INET6 addresses are sockaddr_in6.
                let sin6 = unsafe { &*(ifa.ifa_addr as *const libc::sockaddr_in6) };
                IpAddr::from(sin6.sin6_addr.s6_addr)
            }
            _ => continue,
        };
        if a == addr {
            // SAFETY: ifa_name is a NUL-terminated string owned by the list.
            let name = unsafe { std::ffi::CStr::from_ptr(ifa.ifa_name) };
            found = Some(name.to_string_lossy().into_owned());
            break;
        }
    }
    // SAFETY: `head` came from getifaddrs and is freed once.
    unsafe { libc::freeifaddrs(head) };
    Ok(found)
}

/// Number of receive queues of `name` (`/sys/class/net/NAME/queues/rx-*`), at least 1.
pub(crate) fn rx_queues(name: &str) -> usize {
    std::fs::read_dir(format!("/sys/class/net/{name}/queues"))
        .map(|d| {
            d.filter_map(Result::ok)
                .filter(|e| e.file_name().to_string_lossy().starts_with("rx-"))
                .count()
        })
        .unwrap_or(1)
        .max(1)
}

/// What the interface's XDP hook holds, per rtnetlink.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub(crate) struct XdpState {
    /// `XDP_ATTACHED_*`: 0 none, 1 driver, 2 generic (skb), 3 offload, 4 several.
    pub attached: u8,
    /// Id of the attached program (0 when none, or several).
    pub prog_id: u32,
}

struct Nl(std::os::fd::OwnedFd);

impl Nl {
    fn open() -> io::Result<Nl> {
        // SAFETY: plain socket(2) call; the fd is owned below.
        let fd = unsafe {
            libc::socket(libc::AF_NETLINK, libc::SOCK_RAW | libc::SOCK_CLOEXEC, libc::NETLINK_ROUTE)
        };
        if fd < 0 {
            return Err(io::Error::last_os_error());
        }
        let tv = libc::timeval { tv_sec: 2, tv_usec: 0 };
        // SAFETY: `fd` is the socket just created; `tv` is a live timeval of the size passed.
        unsafe {
            libc::setsockopt(
                fd,
                libc::SOL_SOCKET,
                libc::SO_RCVTIMEO,
                (&tv as *const libc::timeval).cast(),
                std::mem::size_of::<libc::timeval>() as libc::socklen_t,
            );
        }
        // SAFETY: `fd` is a fresh descriptor nothing else owns.
        Ok(Nl(unsafe { std::os::fd::FromRawFd::from_raw_fd(fd) }))
    }

    /// Sends one request and returns the first answer (a message or an error/ack).
    fn request(&self, msg: &[u8]) -> io::Result<Vec<u8>> {
        use std::os::fd::AsRawFd;
        let fd = self.0.as_raw_fd();
        // SAFETY: `msg` is a live buffer of the length passed; the kernel only reads it.
        let rc = unsafe { libc::send(fd, msg.as_ptr().cast(), msg.len(), 0) };
        if rc < 0 {
            return Err(io::Error::last_os_error());
        }
        let mut buf = vec![0u8; 32768];
        // SAFETY: `buf` is writable for its full length.
        let n = unsafe { libc::recv(fd, buf.as_mut_ptr().cast(), buf.len(), 0) };
        if n < 0 {
            return Err(io::Error::last_os_error());
        }
        buf.truncate(n as usize);
        if buf.len() < 16 {
            return Err(io::Error::other("short netlink answer"));
        }
        let ty = u16::from_ne_bytes([buf[4], buf[5]]);
        if ty == NLMSG_ERROR {
            let err = buf.get(16..20).map(|b| i32::from_ne_bytes(b.try_into().unwrap_or([0; 4])));
            match err {
                Some(0) => {}
                Some(e) => return Err(io::Error::from_raw_os_error(-e)),
                None => return Err(io::Error::other("short netlink error")),
            }
        }
        Ok(buf)
    }
}

fn header(ty: u16, flags: u16, ifindex: u32, attrs: &[u8]) -> Vec<u8> {
    let len = 16 + 16 + attrs.len();
    let mut m = Vec::with_capacity(len);
    m.extend_from_slice(&(len as u32).to_ne_bytes());
    m.extend_from_slice(&ty.to_ne_bytes());
    m.extend_from_slice(&(flags | NLM_F_REQUEST).to_ne_bytes());
    m.extend_from_slice(&1u32.to_ne_bytes()); // seq
    m.extend_from_slice(&0u32.to_ne_bytes()); // pid: the kernel
    m.extend_from_slice(&[libc::AF_UNSPEC as u8, 0, 0, 0]); // family, pad, type
    m.extend_from_slice(&(ifindex as i32).to_ne_bytes());
    m.extend_from_slice(&0u32.to_ne_bytes()); // flags
    m.extend_from_slice(&0u32.to_ne_bytes()); // change
    m.extend_from_slice(attrs);
    m
}

fn attr(ty: u16, payload: &[u8]) -> Vec<u8> {
    let len = 4 + payload.len();
    let mut a = Vec::with_capacity(len.next_multiple_of(4));
    a.extend_from_slice(&(len as u16).to_ne_bytes());
    a.extend_from_slice(&ty.to_ne_bytes());
    a.extend_from_slice(payload);
    a.resize(len.next_multiple_of(4), 0);
    a
}

/// Walks netlink attributes: (type without flags, payload).
fn attrs(mut b: &[u8]) -> impl Iterator<Item = (u16, &[u8])> {
    std::iter::from_fn(move || {
        if b.len() < 4 {
            return None;
        }
        let len = u16::from_ne_bytes([b[0], b[1]]) as usize;
        let ty = u16::from_ne_bytes([b[2], b[3]]) & 0x3fff;
        if len < 4 || len > b.len() {
            return None;
        }
        let payload = &b[4..len];
        b = &b[len.next_multiple_of(4).min(b.len())..];
        Some((ty, payload))
    })
}

/// The XDP program attached to `ifindex` (rtnetlink RTM_GETLINK, IFLA_XDP).
pub(crate) fn xdp_state(ifindex: u32) -> io::Result<XdpState> {
    let nl = Nl::open()?;
    let answer = nl.request(&header(RTM_GETLINK, 0, ifindex, &[]))?;
    let ty = u16::from_ne_bytes([answer[4], answer[5]]);
    if ty != RTM_NEWLINK || answer.len() < 32 {
        return Err(io::Error::other("unexpected netlink answer to RTM_GETLINK"));
    }
    let len =
        (u32::from_ne_bytes(answer[0..4].try_into().unwrap_or([0; 4])) as usize).min(answer.len());
    let mut st = XdpState::default();
    for (t, p) in attrs(&answer[32..len]) {
        if t != IFLA_XDP {
            continue;
        }
        for (t, p) in attrs(p) {
            match (t, p.len()) {
                (IFLA_XDP_ATTACHED, 1..) => st.attached = p[0],
                (IFLA_XDP_PROG_ID, 4..) => {
                    st.prog_id = u32::from_ne_bytes(p[..4].try_into().unwrap_or([0; 4]))
                }
                _ => {}
            }
        }
    }
    Ok(st)
}

/// Removes a program attached through netlink (not a BPF link) in the mode given by `flags`.
pub(crate) fn xdp_detach(ifindex: u32, flags: u32) -> io::Result<()> {
    let mut inner = attr(IFLA_XDP_FD, &(-1i32).to_ne_bytes());
    inner.extend(attr(IFLA_XDP_FLAGS, &flags.to_ne_bytes()));
    let msg = header(RTM_SETLINK, NLM_F_ACK, ifindex, &attr(IFLA_XDP | NLA_F_NESTED, &inner));
    Nl::open()?.request(&msg).map(|_| ())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn attributes_round_trip() {
        let mut b = attr(IFLA_XDP_ATTACHED, &[2]);
        b.extend(attr(IFLA_XDP_PROG_ID, &7u32.to_ne_bytes()));
        let got: Vec<_> = attrs(&b).collect();
        assert_eq!(
            got,
            vec![(IFLA_XDP_ATTACHED, &[2u8][..]), (IFLA_XDP_PROG_ID, &7u32.to_ne_bytes()[..])]
        );
        // A length running past the buffer ends the walk instead of reading beyond it.
        let bad = [200u8, 0, 1, 0, 9];
        assert_eq!(attrs(&bad).count(), 0);
    }

    #[test]
    fn loopback_is_found() {
        assert_eq!(ifindex("lo"), Some(1));
        assert_eq!(iface_of("127.0.0.1".parse().unwrap()).unwrap().as_deref(), Some("lo"));
        assert!(ifindex("no-such-if0").is_none());
    }
}
