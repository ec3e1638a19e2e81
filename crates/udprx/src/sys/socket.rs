//! Creating, configuring and binding the receive sockets.

use std::io;
use std::net::SocketAddr;
use std::os::fd::{AsRawFd, RawFd};
use std::time::Duration;

use socket2::{Domain, Protocol, Socket, Type};

use crate::error::Error;

const UDP_GRO: libc::c_int = 104;
/// `SO_PREFER_BUSY_POLL` (Linux 5.11).
const SO_PREFER_BUSY_POLL: libc::c_int = 69;
/// `SO_BUSY_POLL_BUDGET` (Linux 5.11).
const SO_BUSY_POLL_BUDGET: libc::c_int = 70;

/// Options applied to every receive socket before it is bound.
#[derive(Debug, Clone)]
pub(crate) struct SockOpts {
    pub reuse_port: bool,
    pub rcvbuf: Option<usize>,
    pub busy_poll: Option<u32>,
    /// SO_PREFER_BUSY_POLL 1 (false: left at the kernel's 0).
    pub prefer_busy_poll: bool,
    /// SO_BUSY_POLL_BUDGET.
    pub busy_poll_budget: Option<u16>,
    pub timestamps: bool,
    pub gro: bool,
    pub rxq_ovfl: bool,
    /// IP_PKTINFO / IPV6_RECVPKTINFO.
    pub pktinfo: bool,
    /// IP_RECVTOS / IPV6_RECVTCLASS.
    pub ecn: bool,
    pub nonblocking: bool,
    pub read_timeout: Option<Duration>,
}

fn setsockopt_int(
    fd: RawFd,
    level: libc::c_int,
    name: libc::c_int,
    val: libc::c_int,
) -> io::Result<()> {
    // SAFETY: `val` is a live c_int and the length passed is its size; the kernel only reads it.
    let rc = unsafe {
        libc::setsockopt(
            fd,
            level,
            name,
            (&val as *const libc::c_int).cast(),
            std::mem::size_of::<libc::c_int>() as libc::socklen_t,
        )
    };
    if rc == 0 { Ok(()) } else { Err(io::Error::last_os_error()) }
}

fn opt_err(option: &'static str, hint: &'static str) -> impl FnOnce(io::Error) -> Error {
    move |source| Error::SockOpt { option, source, hint }
}

/// `SO_MEMINFO` (Linux 3.9+): the socket's memory counters, `SK_MEMINFO_VARS` of them.
const SO_MEMINFO: libc::c_int = 55;
/// Number of `u32` counters `SO_MEMINFO` knows today (`SK_MEMINFO_DROPS` is the last).
const SK_MEMINFO_VARS: usize = libc::SK_MEMINFO_DROPS as usize + 1;

/// The socket's cumulative drop counter (`sk_drops`, the value SO_RXQ_OVFL and the `drops`
/// column of /proc/net/udp show), read with one `getsockopt(SO_MEMINFO)`.
///
/// One system call: for the receive loops with `drops_per_interval`, which read it per interval, when idle and at
/// the end instead of taking a control message with every datagram. `None` when the kernel
/// refuses the option or returns too few counters.
pub(crate) fn meminfo_drops(fd: RawFd) -> Option<u32> {
    let mut mem = [0u32; SK_MEMINFO_VARS];
    let mut len = std::mem::size_of_val(&mem) as libc::socklen_t;
    // SAFETY: `mem` is a live, writable array of `len` bytes and `len` a live socklen_t; the
    // kernel writes at most `len` bytes (it copies min(len, its own size)) and the new length.
    let rc = unsafe {
        libc::getsockopt(fd, libc::SOL_SOCKET, SO_MEMINFO, mem.as_mut_ptr().cast(), &mut len)
    };
    let needed = (libc::SK_MEMINFO_DROPS as usize + 1) * std::mem::size_of::<u32>();
    if rc != 0 || (len as usize) < needed {
        return None;
    }
    Some(mem[libc::SK_MEMINFO_DROPS as usize])
}

/// Creates a UDP socket for `addr`'s family, applies `o` and binds it to `addr`.
/// Returns the socket and the receive buffer size the kernel actually granted.
pub(crate) fn open_bound(addr: SocketAddr, o: &SockOpts) -> Result<(Socket, usize), Error> {
    let bind_err = |source| Error::Bind { addr, source };
    let sock = Socket::new(Domain::for_address(addr), Type::DGRAM, Some(Protocol::UDP))
        .map_err(bind_err)?;
    let fd = sock.as_raw_fd();
    if o.reuse_port {
        sock.set_reuse_port(true).map_err(opt_err("SO_REUSEPORT", "; use `sockets(1)`"))?;
    }
    if let Some(bytes) = o.rcvbuf {
        let val = bytes.min(i32::MAX as usize / 2) as libc::c_int;
        // SO_RCVBUFFORCE ignores rmem_max but needs CAP_NET_ADMIN; fall back to SO_RCVBUF.
        if setsockopt_int(fd, libc::SOL_SOCKET, libc::SO_RCVBUFFORCE, val).is_err() {
            sock.set_recv_buffer_size(val as usize).map_err(opt_err("SO_RCVBUF", ""))?;
        }
    }
    if let Some(usec) = o.busy_poll {
        let val = usec.min(i32::MAX as u32) as libc::c_int;
        setsockopt_int(fd, libc::SOL_SOCKET, libc::SO_BUSY_POLL, val).map_err(opt_err(
            "SO_BUSY_POLL",
            " (raising it above net.core.busy_read needs CAP_NET_ADMIN); run without `busy_poll`",
        ))?;
    }
    if o.prefer_busy_poll {
        setsockopt_int(fd, libc::SOL_SOCKET, SO_PREFER_BUSY_POLL, 1).map_err(opt_err(
            "SO_PREFER_BUSY_POLL",
            " (Linux 5.11+, needs CAP_NET_ADMIN); run without `prefer_busy_poll`",
        ))?;
    }
    if let Some(budget) = o.busy_poll_budget {
        setsockopt_int(fd, libc::SOL_SOCKET, SO_BUSY_POLL_BUDGET, budget.into()).map_err(
            opt_err(
                "SO_BUSY_POLL_BUDGET",
                " (Linux 5.11+; raising it needs CAP_NET_ADMIN); run without `busy_poll_budget`",
            ),
        )?;
    }
    if o.timestamps {
        setsockopt_int(fd, libc::SOL_SOCKET, libc::SO_TIMESTAMPNS, 1)
            .map_err(opt_err("SO_TIMESTAMPNS", "; run without `timestamps`"))?;
    }
    if o.rxq_ovfl {
        setsockopt_int(fd, libc::SOL_SOCKET, libc::SO_RXQ_OVFL, 1)
            .map_err(opt_err("SO_RXQ_OVFL", ""))?;
    }
    if o.gro {
        setsockopt_int(fd, libc::SOL_UDP, UDP_GRO, 1).map_err(Error::GroRefused)?;
    }
    // An IPv6 socket also asks for the IPv4 options, which Linux honours for the v4-mapped
    // datagrams of a dual-stack socket (best effort: a v6-only socket has none).
    if o.pktinfo {
        if addr.is_ipv6() {
            setsockopt_int(fd, libc::IPPROTO_IPV6, libc::IPV6_RECVPKTINFO, 1)
                .map_err(opt_err("IPV6_RECVPKTINFO", ""))?;
            let _ = setsockopt_int(fd, libc::IPPROTO_IP, libc::IP_PKTINFO, 1);
        } else {
            setsockopt_int(fd, libc::IPPROTO_IP, libc::IP_PKTINFO, 1)
                .map_err(opt_err("IP_PKTINFO", ""))?;
        }
    }
    if o.ecn {
        if addr.is_ipv6() {
            setsockopt_int(fd, libc::IPPROTO_IPV6, libc::IPV6_RECVTCLASS, 1)
                .map_err(opt_err("IPV6_RECVTCLASS", ""))?;
            let _ = setsockopt_int(fd, libc::IPPROTO_IP, libc::IP_RECVTOS, 1);
        } else {
            setsockopt_int(fd, libc::IPPROTO_IP, libc::IP_RECVTOS, 1)
                .map_err(opt_err("IP_RECVTOS", ""))?;
        }
    }
    if o.nonblocking {
        sock.set_nonblocking(true).map_err(opt_err("O_NONBLOCK", ""))?;
    }
    if let Some(t) = o.read_timeout {
        sock.set_read_timeout(Some(t)).map_err(opt_err("SO_RCVTIMEO", ""))?;
    }
    sock.bind(&addr.into()).map_err(bind_err)?;
    let granted = sock.recv_buffer_size().map_err(opt_err("SO_RCVBUF", ""))?;
    Ok((sock, granted))
}

/// Whether some socket already holds `addr` (UDP): a probe socket *without* SO_REUSEPORT or
/// SO_REUSEADDR is bound to it and closed again; EADDRINUSE means the port is taken.
///
/// Binding our own sockets with SO_REUSEPORT to a port another process (same user) bound with
/// SO_REUSEPORT would silently join its group and take a share of its datagrams; this probe is
/// how the engine refuses that. A race with a process binding between the probe and our own
/// bind remains possible (the window is a few system calls).
pub(crate) fn port_in_use(addr: SocketAddr) -> Result<bool, Error> {
    let bind_err = |source| Error::Bind { addr, source };
    let probe = Socket::new(Domain::for_address(addr), Type::DGRAM, Some(Protocol::UDP))
        .map_err(bind_err)?;
    match probe.bind(&addr.into()) {
        Ok(()) => Ok(false),
        Err(e) if e.raw_os_error() == Some(libc::EADDRINUSE) => Ok(true),
        Err(e) => Err(bind_err(e)),
    }
}

/// The address a socket is bound to.
pub(crate) fn local_addr(sock: &Socket) -> Result<SocketAddr, Error> {
    sock.local_addr()
        .and_then(|a| a.as_socket().ok_or_else(|| io::Error::other("not an inet socket")))
        .map_err(opt_err("getsockname", ""))
}

/// Attaches a classic BPF program to the reuseport group of `sock` (SO_ATTACH_REUSEPORT_CBPF).
pub(crate) fn attach_reuseport_cbpf(sock: &Socket, prog: &[libc::sock_filter]) -> io::Result<()> {
    let fprog = libc::sock_fprog { len: prog.len() as u16, filter: prog.as_ptr() as *mut _ };
    // SAFETY: `fprog` points at `prog.len()` valid instructions that outlive the call; the kernel
    // copies the program before returning.
    let rc = unsafe {
        libc::setsockopt(
            sock.as_raw_fd(),
            libc::SOL_SOCKET,
            libc::SO_ATTACH_REUSEPORT_CBPF,
            (&fprog as *const libc::sock_fprog).cast(),
            std::mem::size_of::<libc::sock_fprog>() as libc::socklen_t,
        )
    };
    if rc == 0 { Ok(()) } else { Err(io::Error::last_os_error()) }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn meminfo_reads_the_drop_counter() {
        let opts = SockOpts {
            reuse_port: false,
            rcvbuf: Some(1),
            busy_poll: None,
            prefer_busy_poll: false,
            busy_poll_budget: None,
            timestamps: false,
            gro: false,
            pktinfo: false,
            ecn: false,
            rxq_ovfl: false,
            nonblocking: true,
            read_timeout: None,
        };
        let (rx, _) = open_bound("127.0.0.1:0".parse().unwrap(), &opts).unwrap();
        assert_eq!(meminfo_drops(rx.as_raw_fd()), Some(0), "a fresh socket dropped nothing");
        let tx = std::net::UdpSocket::bind("127.0.0.1:0").unwrap();
        let dst = local_addr(&rx).unwrap();
        for _ in 0..200 {
            tx.send_to(&[0u8; 18], dst).unwrap();
        }
        // The smallest receive buffer holds a few datagrams; the rest were dropped.
        let drops = meminfo_drops(rx.as_raw_fd()).expect("SO_MEMINFO");
        let rx = std::net::UdpSocket::from(rx);
        let mut queued = 0u32;
        let mut buf = [0u8; 64];
        while rx.recv(&mut buf).is_ok() {
            queued += 1;
        }
        assert!(drops > 0, "a burst into the smallest buffer drops");
        assert_eq!(queued + drops, 200, "queued + dropped = sent");
        assert_eq!(meminfo_drops(-1), None, "a bad fd is no counter");
    }
}
