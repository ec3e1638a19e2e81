//! Everything that talks to the kernel: sockets, `sendmmsg`, UDP GSO. The only module with
//! `unsafe`.

use std::io;
use std::net::SocketAddr;
use std::os::fd::AsRawFd;
use std::time::Duration;

use socket2::{Domain, Protocol, Socket, Type};

use crate::Error;

/// Most segments in one GSO buffer (the kernel's `UDP_MAX_SEGMENTS` is 64 on older kernels).
pub(crate) const GSO_MAX_SEGMENTS: usize = 64;
/// Largest UDP payload of one GSO buffer (IPv4 total length limit less IP and UDP headers).
const GSO_MAX_BYTES: usize = 65_507;
/// A blocked send returns EAGAIN after this long, so a stop request is never stuck behind it.
const SEND_TIMEOUT: Duration = Duration::from_millis(100);

/// Opens flow `flow`'s socket: bound if asked (port + flow when the port is not 0), connected to
/// `dest`. Returns the socket and its local address.
pub(crate) fn open_flow(
    dest: SocketAddr,
    bind: Option<SocketAddr>,
    flow: usize,
) -> Result<(Socket, SocketAddr), Error> {
    let ctx = |what: &str| {
        let what = what.to_string();
        move |source| Error::Io { context: format!("flow {flow}: {what}"), source }
    };
    let sock = Socket::new(Domain::for_address(dest), Type::DGRAM, Some(Protocol::UDP))
        .map_err(ctx("socket"))?;
    sock.set_write_timeout(Some(SEND_TIMEOUT)).map_err(ctx("SO_SNDTIMEO"))?;
    if let Some(mut local) = bind {
        if local.port() != 0 {
            local.set_port(local.port() + flow as u16);
        }
        sock.bind(&local.into()).map_err(ctx(&format!("bind {local}")))?;
    }
    sock.connect(&dest.into()).map_err(ctx(&format!("connect {dest}")))?;
    let local =
        sock.local_addr().map_err(ctx("getsockname"))?.as_socket().ok_or_else(|| Error::Io {
            context: format!("flow {flow}: local address"),
            source: io::Error::other("not an IP socket"),
        })?;
    Ok((sock, local))
}

/// Segments per GSO buffer for this payload and batch, or why GSO cannot help.
pub(crate) fn gso_segments(payload: usize, batch: usize) -> Result<usize, String> {
    let segs = GSO_MAX_SEGMENTS.min(GSO_MAX_BYTES / payload).min(batch);
    if segs < 2 {
        Err(format!(
            "a GSO buffer would hold only {segs} segment(s) of {payload} bytes (batch {batch})"
        ))
    } else {
        Ok(segs)
    }
}

/// Sets (`size` > 0) or clears (`size` = 0) the socket's UDP GSO segment size.
pub(crate) fn set_gso(sock: &Socket, size: usize) -> io::Result<()> {
    let val =
        libc::c_int::try_from(size).map_err(|_| io::Error::from_raw_os_error(libc::EINVAL))?;
    // SAFETY: the fd is an open socket owned by `sock`; `val` lives across the call and its size
    // is passed exactly.
    let rc = unsafe {
        libc::setsockopt(
            sock.as_raw_fd(),
            libc::SOL_UDP,
            libc::UDP_SEGMENT,
            (&val as *const libc::c_int).cast(),
            size_of::<libc::c_int>() as libc::socklen_t,
        )
    };
    if rc == 0 { Ok(()) } else { Err(io::Error::last_os_error()) }
}

/// True for the errors with which a kernel refuses a GSO send it cannot do: EIO (no checksum
/// offload, xfrm), EINVAL (too many segments, no UDP checksum), EMSGSIZE (a segment larger than the
/// path MTU), ENOPROTOOPT (no UDP_SEGMENT at all).
pub(crate) fn is_gso_refusal(err: &io::Error) -> bool {
    matches!(
        err.raw_os_error(),
        Some(libc::EIO | libc::EINVAL | libc::EMSGSIZE | libc::ENOPROTOOPT)
    )
}

/// How a send failed, for the report's counters.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum SendErrorKind {
    /// ENOBUFS: a device or qdisc queue is full.
    NoBufs,
    /// EAGAIN/EWOULDBLOCK: the socket send buffer stayed full for the send timeout.
    Again,
    /// ECONNREFUSED: an ICMP port unreachable came back on the connected socket.
    ConnRefused,
    /// Anything else.
    Other,
}

impl SendErrorKind {
    pub(crate) fn of(err: &io::Error) -> SendErrorKind {
        match err.raw_os_error() {
            Some(libc::ENOBUFS) => SendErrorKind::NoBufs,
            Some(libc::EAGAIN) => SendErrorKind::Again,
            Some(libc::ECONNREFUSED) => SendErrorKind::ConnRefused,
            _ => SendErrorKind::Other,
        }
    }
}

/// One thread's send buffer: `capacity` packet slots of `payload` bytes laid end to end, and the
/// iovec/mmsghdr arrays that describe a batch of them to `sendmmsg`.
///
/// Without GSO each packet is one message; with GSO, `per_msg` consecutive packets form one
/// message, cut by the kernel into datagrams of `payload` bytes.
pub(crate) struct Batcher {
    buf: Vec<u8>,
    payload: usize,
    per_msg: usize,
    iovs: Vec<libc::iovec>,
    hdrs: Vec<libc::mmsghdr>,
}

impl Batcher {
    /// Allocates everything up front: the hot path never allocates.
    pub(crate) fn new(payload: usize, capacity: usize, per_msg: usize) -> Batcher {
        let capacity = capacity.max(1);
        let empty_iov = libc::iovec { iov_base: std::ptr::null_mut(), iov_len: 0 };
        // SAFETY: mmsghdr is a plain C struct for which all-zero bytes (null pointers, zero
        // lengths) is a valid value.
        let empty_hdr: libc::mmsghdr = unsafe { std::mem::zeroed() };
        Batcher {
            buf: vec![0u8; payload * capacity],
            payload,
            per_msg: per_msg.max(1),
            iovs: vec![empty_iov; capacity],
            hdrs: vec![empty_hdr; capacity],
        }
    }

    /// Packets per message (1 without GSO).
    pub(crate) fn set_per_msg(&mut self, per_msg: usize) {
        self.per_msg = per_msg.max(1);
    }

    /// The payload of packet slot `i`.
    #[inline]
    pub(crate) fn packet_mut(&mut self, i: usize) -> &mut [u8] {
        &mut self.buf[i * self.payload..(i + 1) * self.payload]
    }

    /// Sends slots `first .. first + n` with one `sendmmsg` call on the connected `sock`.
    /// Returns how many packets the kernel took (possibly fewer than `n`).
    pub(crate) fn send(&mut self, sock: &Socket, first: usize, n: usize) -> io::Result<usize> {
        let end = first + n;
        assert!(n > 0 && end * self.payload <= self.buf.len(), "batch outside the buffer");
        let base = self.buf.as_mut_ptr();
        let mut msgs = 0;
        let mut start = first;
        while start < end {
            let cnt = self.per_msg.min(end - start);
            // SAFETY: start + cnt <= end and end * payload <= buf.len() (asserted above), so the
            // offset stays inside the buffer.
            let ptr = unsafe { base.add(start * self.payload) };
            self.iovs[msgs] = libc::iovec { iov_base: ptr.cast(), iov_len: cnt * self.payload };
            let hdr = &mut self.hdrs[msgs].msg_hdr;
            hdr.msg_iov = &mut self.iovs[msgs];
            hdr.msg_iovlen = 1;
            msgs += 1;
            start += cnt;
        }
        // SAFETY: the fd is an open, connected socket; hdrs[..msgs] point at iovecs in
        // self.iovs, which point into self.buf; neither is moved or freed during the call, and
        // msg_name/msg_control are null (zeroed at construction, never set).
        let rc = unsafe {
            libc::sendmmsg(sock.as_raw_fd(), self.hdrs.as_mut_ptr(), msgs as libc::c_uint, 0)
        };
        if rc < 0 {
            return Err(io::Error::last_os_error());
        }
        Ok((rc as usize * self.per_msg).min(n))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn gso_segment_counts() {
        assert_eq!(gso_segments(18, 64), Ok(64));
        assert_eq!(gso_segments(18, 1024), Ok(64));
        assert_eq!(gso_segments(1472, 64), Ok(44));
        assert_eq!(gso_segments(18, 8), Ok(8));
        assert!(gso_segments(40_000, 64).is_err());
        assert!(gso_segments(18, 1).is_err());
    }

    #[test]
    fn errno_kinds() {
        let k = |e| SendErrorKind::of(&io::Error::from_raw_os_error(e));
        assert_eq!(k(libc::ENOBUFS), SendErrorKind::NoBufs);
        assert_eq!(k(libc::EAGAIN), SendErrorKind::Again);
        assert_eq!(k(libc::ECONNREFUSED), SendErrorKind::ConnRefused);
        assert_eq!(k(libc::EPERM), SendErrorKind::Other);
        assert!(is_gso_refusal(&io::Error::from_raw_os_error(libc::EIO)));
        assert!(!is_gso_refusal(&io::Error::from_raw_os_error(libc::ENOBUFS)));
    }

    #[test]
    fn sendmmsg_on_loopback_delivers_each_slot() {
        let rx = std::net::UdpSocket::bind("127.0.0.1:0").unwrap();
        rx.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
        let (sock, _) = open_flow(rx.local_addr().unwrap(), None, 0).unwrap();
        let mut b = Batcher::new(20, 4, 1);
        for i in 0..4 {
            b.packet_mut(i).fill(i as u8);
        }
        assert_eq!(b.send(&sock, 1, 3).unwrap(), 3);
        let mut buf = [0u8; 64];
        for i in 1..4u8 {
            let n = rx.recv(&mut buf).unwrap();
            assert_eq!(&buf[..n], &[i; 20]);
        }
    }
}
