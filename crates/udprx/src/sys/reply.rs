//! Sending replies through a receive socket: `sendto(2)` for one datagram, `sendmmsg(2)` for a
//! batch, with an IP_PKTINFO / IPV6_PKTINFO control message when the reply must leave from a
//! given source address. Every buffer is allocated once, when the [`Replier`] is made.

use std::io;
use std::net::{IpAddr, SocketAddr};
use std::os::fd::{AsFd, AsRawFd, BorrowedFd, OwnedFd, RawFd};
use std::sync::Arc;

use crate::batch::Datagram;
use crate::sys::cmsg::{self, NAME_LEN, SEND_CONTROL_LEN};

/// Control bytes per message: a source (PKTINFO), the ECN bits (IP_TOS / IPV6_TCLASS) and a
/// GSO segment size (UDP_SEGMENT).
/// Each of the two small ones is a 16-byte header and 4 (or 2) data bytes, aligned to 24.
const REPLY_CONTROL_LEN: usize = SEND_CONTROL_LEN + 2 * 24;

/// Most segments one GSO send may carry (the kernel's UDP_MAX_SEGMENTS on older kernels).
const GSO_MAX_SEGMENTS: usize = 64;
/// Most payload bytes one GSO send may carry (an IP datagram's limit, less the headers).
const GSO_MAX_BYTES: usize = 65_000;

/// Default number of replies one [`Replier::flush`] sends with one `sendmmsg`.
pub const DEFAULT_REPLY_BATCH: usize = 64;
/// Default size of each queued reply's slot in the [`Replier`]'s own buffer.
pub const DEFAULT_REPLY_SLOT: usize = 2048;

#[derive(Clone, Copy)]
#[repr(C, align(8))]
struct Name([u8; NAME_LEN]);

#[derive(Clone, Copy)]
#[repr(C, align(8))]
struct Control([u8; REPLY_CONTROL_LEN]);

/// One queued reply: where its payload is and where it goes.
#[derive(Clone, Copy)]
struct Entry {
    /// Payload length in its slot.
    len: usize,
    /// Encoded destination length in `names`.
    name_len: usize,
    /// Encoded source control-message length in `controls` (0: the kernel picks the source).
    control_len: usize,
}

/// Sends datagrams back through a receive socket, one at a time or batched with `sendmmsg`.
///
/// A `Replier` holds its own reference to the socket (a shared duplicate of the descriptor, so it
/// stays valid however long the replier lives) and buffers sized once: sending allocates
/// nothing. Get one per thread from [`ThreadInfo::replier`](crate::ThreadInfo::replier) in a
/// handler factory, from [`PullReceiver::replier`](crate::PullReceiver::replier), or for any UDP
/// socket with [`Replier::new`].
///
/// Three ways to send:
/// - [`send_to`](Self::send_to): one `sendto` now;
/// - [`send_batch`](Self::send_batch): the caller's payloads, zero-copy, `sendmmsg` in chunks;
/// - [`queue`](Self::queue) / [`queue_reply`](Self::queue_reply) then
///   [`flush`](Self::flush): payloads are copied into the replier's slots (a reply is usually
///   built from a datagram that is gone after the handler returns) and sent with one
///   `sendmmsg` per flush; a full queue flushes by itself. `queue_reply` answers from the
///   address the datagram was sent to when it is known (`pktinfo(true)`), so a server bound to
///   `0.0.0.0` or `::` replies from the address it was asked on.
///
/// ```
/// use std::net::UdpSocket;
/// use udprx::Replier;
///
/// let server = UdpSocket::bind("127.0.0.1:0")?;
/// let client = UdpSocket::bind("127.0.0.1:0")?;
/// let mut replier = Replier::new(&server)?;
/// let to = client.local_addr()?;
/// replier.send_to(b"one", to)?;
/// assert_eq!(replier.send_batch(&[(b"two".as_slice(), to), (b"three".as_slice(), to)])?, 2);
/// replier.queue(b"four", to, None)?;
/// assert_eq!(replier.flush()?, 1);
/// let mut buf = [0u8; 16];
/// for want in [&b"one"[..], b"two", b"three", b"four"] {
///     let n = client.recv(&mut buf)?;
///     assert_eq!(&buf[..n], want);
/// }
/// # Ok::<(), std::io::Error>(())
/// ```
pub struct Replier {
    fd: Arc<OwnedFd>,
    v6: bool,
    slot: usize,
    arena: Vec<u8>,
    names: Vec<Name>,
    controls: Vec<Control>,
    entries: Vec<Entry>,
    /// Rewritten before every `sendmmsg` (they point into the buffers above).
    iovs: Vec<libc::iovec>,
    msgs: Vec<libc::mmsghdr>,
    /// ECN codepoint for queued replies (`set_ecn`).
    ecn: Option<u8>,
    /// UDP GSO in use for `send_segments` (until the kernel refuses it, or `set_gso(false)`).
    gso: bool,
    /// Why GSO was turned off at run time, if it was.
    gso_refusal: Option<String>,
}

impl std::fmt::Debug for Replier {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Replier")
            .field("fd", &self.fd.as_raw_fd())
            .field("capacity", &self.entries.capacity())
            .field("slot", &self.slot)
            .field("pending", &self.entries.len())
            .finish()
    }
}

// SAFETY: the only non-Send fields are the raw pointers inside `iovs` and `msgs`; they point into
// the replier's own heap buffers (or, during `send_batch`, the caller's slices) and are rewritten
// right before each `sendmmsg`, never read across a move between threads.
unsafe impl Send for Replier {}

impl Replier {
    /// A replier for `socket` (any bound UDP socket), with room for
    /// [`DEFAULT_REPLY_BATCH`] queued replies of up to [`DEFAULT_REPLY_SLOT`] bytes each.
    pub fn new(socket: &impl AsFd) -> io::Result<Replier> {
        Replier::with_capacity(socket, DEFAULT_REPLY_BATCH, DEFAULT_REPLY_SLOT)
    }

    /// A replier with room for `batch` queued replies (1..=1024, the most one `sendmmsg` takes)
    /// of up to `slot` bytes each (1..=65535); a larger reply is sent on its own without a
    /// copy.
    pub fn with_capacity(socket: &impl AsFd, batch: usize, slot: usize) -> io::Result<Replier> {
        let fd = socket.as_fd().try_clone_to_owned()?;
        Replier::from_shared(Arc::new(fd), batch, slot)
    }

    pub(crate) fn from_shared(fd: Arc<OwnedFd>, batch: usize, slot: usize) -> io::Result<Replier> {
        if !(1..=1024).contains(&batch) || !(1..=65535).contains(&slot) {
            return Err(io::Error::new(
                io::ErrorKind::InvalidInput,
                format!(
                    "reply batch must be 1..=1024 and slot 1..=65535 bytes, got {batch} and {slot}"
                ),
            ));
        }
        let local = socket2::SockRef::from(&*fd).local_addr()?;
        let v6 = local.is_ipv6();
        // SAFETY: all-zero is a valid iovec / mmsghdr (null pointers, zero lengths).
        let zero_iov: libc::iovec = unsafe { std::mem::zeroed() };
        Ok(Replier {
            fd,
            v6,
            slot,
            arena: vec![0; batch * slot],
            names: vec![Name([0; NAME_LEN]); batch],
            controls: vec![Control([0; REPLY_CONTROL_LEN]); batch],
            entries: Vec::with_capacity(batch),
            iovs: vec![zero_iov; batch],
            // SAFETY: as above.
            msgs: (0..batch).map(|_| unsafe { std::mem::zeroed() }).collect(),
            ecn: None,
            gso: true,
            gso_refusal: None,
        })
    }

    /// Replies that [`queue`](Self::queue) holds and [`flush`](Self::flush) has not sent yet.
    pub fn pending(&self) -> usize {
        self.entries.len()
    }

    /// Sends one datagram to `dst` now (`sendto`); returns the bytes sent.
    pub fn send_to(&mut self, payload: &[u8], dst: SocketAddr) -> io::Result<usize> {
        let mut name = Name([0; NAME_LEN]);
        let nlen = cmsg::write_sockaddr(&mut name.0, dst, self.v6);
        // SAFETY: `payload` and `name` are live for the lengths passed; the kernel only reads them.
        let n = unsafe {
            libc::sendto(
                self.fd.as_raw_fd(),
                payload.as_ptr().cast(),
                payload.len(),
                0,
                name.0.as_ptr().cast(),
                nlen as libc::socklen_t,
            )
        };
        if n < 0 { Err(io::Error::last_os_error()) } else { Ok(n as usize) }
    }

    /// Sends every `(payload, destination)` pair, zero-copy, with one `sendmmsg` per
    /// [capacity](Self::with_capacity) of them; returns how many were sent. An error after some
    /// were sent returns the count sent so far; one before any returns the error.
    pub fn send_batch(&mut self, msgs: &[(&[u8], SocketAddr)]) -> io::Result<usize> {
        let cap = self.msgs.len();
        let mut sent = 0;
        for chunk in msgs.chunks(cap) {
            for (i, (payload, dst)) in chunk.iter().enumerate() {
                let nlen = cmsg::write_sockaddr(&mut self.names[i].0, *dst, self.v6);
                self.iovs[i] =
                    libc::iovec { iov_base: payload.as_ptr() as *mut _, iov_len: payload.len() };
                self.set_header(i, nlen, 0);
            }
            match self.sendmmsg(0, chunk.len()) {
                Ok(n) => {
                    sent += n;
                    if n < chunk.len() {
                        return Ok(sent);
                    }
                }
                Err(e) if sent == 0 => return Err(e),
                Err(_) => return Ok(sent),
            }
        }
        Ok(sent)
    }

    /// Queues a copy of `payload` for `dst`, sent from `src` (an address of this host, with the
    /// interface index to leave by, 0 for any) when given; flushes first when the queue is
    /// full. A payload larger than a slot is sent at once, after the queue.
    pub fn queue(
        &mut self,
        payload: &[u8],
        dst: SocketAddr,
        src: Option<(IpAddr, u32)>,
    ) -> io::Result<()> {
        if self.entries.len() == self.msgs.len() || payload.len() > self.slot {
            self.flush()?;
        }
        let i = self.entries.len();
        let name_len = cmsg::write_sockaddr(&mut self.names[i].0, dst, self.v6);
        let mut control_len = match src {
            Some((ip, ifindex)) => cmsg::write_src(&mut self.controls[i].0, ip, ifindex),
            None => 0,
        };
        if let Some(ecn) = self.ecn {
            control_len += self.write_ecn(i, control_len, ecn, dst);
        }
        if payload.len() > self.slot {
            // Sent alone from the caller's buffer.
            self.iovs[0] =
                libc::iovec { iov_base: payload.as_ptr() as *mut _, iov_len: payload.len() };
            self.set_header(0, name_len, control_len);
            return self.sendmmsg(0, 1).map(|_| ());
        }
        self.arena[i * self.slot..i * self.slot + payload.len()].copy_from_slice(payload);
        self.entries.push(Entry { len: payload.len(), name_len, control_len });
        Ok(())
    }

    /// Queues `payload` as the answer to `to`: to its source, from the address it was sent to
    /// when the receiver has `pktinfo(true)` (otherwise the kernel picks the source).
    pub fn queue_reply(&mut self, to: &Datagram<'_>, payload: &[u8]) -> io::Result<()> {
        let src = to.dst_ip.map(|ip| (ip, to.ifindex.unwrap_or(0)));
        self.queue(payload, to.source, src)
    }

    /// Sends every queued reply (`sendmmsg`, continuing after a partial send); returns how many
    /// were sent. On an error the unsent replies are dropped, as the network would, and the
    /// error is returned (for a non-blocking socket with a full send buffer, `WouldBlock`).
    pub fn flush(&mut self) -> io::Result<usize> {
        let n = self.entries.len();
        for k in 0..n {
            let e = self.entries[k];
            let base = self.arena[k * self.slot..].as_mut_ptr();
            self.iovs[k] = libc::iovec { iov_base: base.cast(), iov_len: e.len };
            self.set_header(k, e.name_len, e.control_len);
        }
        let mut sent = 0;
        while sent < n {
            match self.sendmmsg(sent, n - sent) {
                Ok(0) => break,
                Ok(m) => sent += m,
                Err(e) => {
                    self.entries.clear();
                    return Err(e);
                }
            }
        }
        self.entries.clear();
        Ok(sent)
    }

    /// Marks every reply queued from now on ([`queue`](Self::queue),
    /// [`queue_reply`](Self::queue_reply)) with the ECN codepoint `ecn` (0..=3: Not-ECT,
    /// ECT(1), ECT(0), CE) through an IP_TOS / IPV6_TCLASS control message; `None` (the
    /// default) leaves the bits to the socket. [`send_segments`](Self::send_segments) takes
    /// its own. `send_to` and `send_batch` send unmarked.
    pub fn set_ecn(&mut self, ecn: Option<u8>) {
        self.ecn = ecn.map(|e| e & 3);
    }

    /// True while [`send_segments`](Self::send_segments) uses UDP GSO (one `sendmsg` for many
    /// datagrams); false after [`set_gso(false)`](Self::set_gso) or a run-time refusal (see
    /// [`gso_refusal`](Self::gso_refusal)).
    pub fn gso(&self) -> bool {
        self.gso
    }

    /// Turns UDP GSO for [`send_segments`](Self::send_segments) on or off (on by default; off
    /// sends each segment as its own message of one `sendmmsg`).
    pub fn set_gso(&mut self, on: bool) {
        self.gso = on;
    }

    /// Why GSO was turned off at run time (the kernel refused UDP_SEGMENT), if it was.
    pub fn gso_refusal(&self) -> Option<&str> {
        self.gso_refusal.as_deref()
    }

    /// Sends `payload` to `dst` as datagrams of `segment_size` bytes each (the last may be
    /// shorter), from `src` when given (as [`queue`](Self::queue)), with the ECN codepoint
    /// `ecn` when given; returns the datagrams sent. Queued replies are flushed first.
    ///
    /// With GSO (UDP_SEGMENT, Linux 4.18) up to 64 segments leave with one `sendmsg` and the
    /// kernel (or the NIC) cuts them; a kernel or route that refuses GSO (EIO, EINVAL,
    /// EOPNOTSUPP, ENOPROTOOPT on the first try) turns it off for this replier, reported by
    /// [`gso_refusal`](Self::gso_refusal), and the segments go as separate messages of
    /// `sendmmsg`: the receiver gets the same datagrams either way.
    pub fn send_segments(
        &mut self,
        payload: &[u8],
        segment_size: usize,
        dst: SocketAddr,
        src: Option<(IpAddr, u32)>,
        ecn: Option<u8>,
    ) -> io::Result<usize> {
        if segment_size == 0 || segment_size > 65_507 {
            return Err(io::Error::new(
                io::ErrorKind::InvalidInput,
                format!("segment size must be 1..=65507 bytes, got {segment_size}"),
            ));
        }
        if !self.entries.is_empty() {
            self.flush()?;
        }
        let per_send = GSO_MAX_SEGMENTS.min((GSO_MAX_BYTES / segment_size).max(1));
        let mut sent = 0;
        let mut rest = payload;
        while !rest.is_empty() {
            let take = rest.len().min(per_send * segment_size);
            let (chunk, tail) = rest.split_at(take);
            let segments = chunk.len().div_ceil(segment_size);
            if self.gso && segments > 1 {
                match self.send_gso(chunk, segment_size, dst, src, ecn) {
                    Ok(()) => {
                        sent += segments;
                        rest = tail;
                        continue;
                    }
                    Err(e)
                        if sent == 0
                            && matches!(
                                e.raw_os_error(),
                                Some(libc::EIO)
                                    | Some(libc::EINVAL)
                                    | Some(libc::EOPNOTSUPP)
                                    | Some(libc::ENOPROTOOPT)
                            ) =>
                    {
                        self.gso = false;
                        self.gso_refusal = Some(format!(
                            "UDP_SEGMENT refused ({e}); segments are sent one per message"
                        ));
                    }
                    Err(e) => return if sent == 0 { Err(e) } else { Ok(sent) },
                }
            }
            // One message per segment, sendmmsg in chunks of the replier's capacity.
            for group in chunk.chunks(segment_size * self.msgs.len()) {
                let n = group.len().div_ceil(segment_size);
                for (i, seg) in group.chunks(segment_size).enumerate() {
                    let nlen = cmsg::write_sockaddr(&mut self.names[i].0, dst, self.v6);
                    let clen = self.write_controls(i, src, ecn, dst, None);
                    self.iovs[i] =
                        libc::iovec { iov_base: seg.as_ptr() as *mut _, iov_len: seg.len() };
                    self.set_header(i, nlen, clen);
                }
                let mut done = 0;
                while done < n {
                    match self.sendmmsg(done, n - done) {
                        Ok(0) => return Ok(sent + done),
                        Ok(m) => done += m,
                        Err(e) => return if sent + done == 0 { Err(e) } else { Ok(sent + done) },
                    }
                }
                sent += n;
            }
            rest = tail;
        }
        Ok(sent)
    }

    /// One `sendmsg` of `chunk` cut by the kernel into `segment_size` datagrams.
    fn send_gso(
        &mut self,
        chunk: &[u8],
        segment_size: usize,
        dst: SocketAddr,
        src: Option<(IpAddr, u32)>,
        ecn: Option<u8>,
    ) -> io::Result<()> {
        let nlen = cmsg::write_sockaddr(&mut self.names[0].0, dst, self.v6);
        let clen = self.write_controls(0, src, ecn, dst, Some(segment_size as u16));
        self.iovs[0] = libc::iovec { iov_base: chunk.as_ptr() as *mut _, iov_len: chunk.len() };
        self.set_header(0, nlen, clen);
        match self.sendmmsg(0, 1)? {
            1 => Ok(()),
            _ => Err(io::ErrorKind::WouldBlock.into()),
        }
    }

    /// Writes control `i`: source, ECN and GSO segment size, as given; returns the length.
    fn write_controls(
        &mut self,
        i: usize,
        src: Option<(IpAddr, u32)>,
        ecn: Option<u8>,
        dst: SocketAddr,
        segment: Option<u16>,
    ) -> usize {
        let mut len = match src {
            Some((ip, ifindex)) => cmsg::write_src(&mut self.controls[i].0, ip, ifindex),
            None => 0,
        };
        if let Some(e) = ecn {
            len += self.write_ecn(i, len, e & 3, dst);
        }
        if let Some(seg) = segment {
            len += cmsg::write_cmsg(
                &mut self.controls[i].0[len..],
                libc::SOL_UDP,
                libc::UDP_SEGMENT,
                &seg.to_ne_bytes(),
            );
        }
        len
    }

    /// Writes the ECN bits for a datagram to `dst` at offset `at` of control `i`: IP_TOS for an
    /// IPv4 destination (also v4-mapped on a dual-stack socket, which sends it through the IPv4
    /// path), IPV6_TCLASS for IPv6.
    fn write_ecn(&mut self, i: usize, at: usize, ecn: u8, dst: SocketAddr) -> usize {
        let v4 = match dst.ip() {
            IpAddr::V4(_) => true,
            IpAddr::V6(ip) => ip.to_ipv4_mapped().is_some(),
        };
        let (level, kind) = if v4 {
            (libc::IPPROTO_IP, libc::IP_TOS)
        } else {
            (libc::IPPROTO_IPV6, libc::IPV6_TCLASS)
        };
        cmsg::write_cmsg(
            &mut self.controls[i].0[at..],
            level,
            kind,
            &(i32::from(ecn)).to_ne_bytes(),
        )
    }

    /// Points header `i` at iovec `i`, name `i` and control `i`.
    #[inline]
    fn set_header(&mut self, i: usize, name_len: usize, control_len: usize) {
        let h = &mut self.msgs[i].msg_hdr;
        h.msg_iov = &mut self.iovs[i];
        h.msg_iovlen = 1;
        h.msg_name = self.names[i].0.as_mut_ptr().cast();
        h.msg_namelen = name_len as libc::socklen_t;
        h.msg_control = if control_len == 0 {
            std::ptr::null_mut()
        } else {
            self.controls[i].0.as_mut_ptr().cast()
        };
        h.msg_controllen = control_len as _;
        h.msg_flags = 0;
        self.msgs[i].msg_len = 0;
    }

    /// `sendmmsg` of headers `start..start + n`, retried on EINTR.
    fn sendmmsg(&mut self, start: usize, n: usize) -> io::Result<usize> {
        let msgs = &mut self.msgs[start..start + n];
        loop {
            // SAFETY: these headers were just pointed (`set_header`) at live iovecs, names and
            // controls of this replier, whose iovecs point at the arena or at the caller's
            // slices borrowed for this call; the kernel only reads them (and writes `msg_len`).
            let rc = unsafe {
                libc::sendmmsg(self.fd.as_raw_fd(), msgs.as_mut_ptr(), n as libc::c_uint, 0)
            };
            if rc >= 0 {
                return Ok(rc as usize);
            }
            let e = io::Error::last_os_error();
            if e.kind() != io::ErrorKind::Interrupted {
                return Err(e);
            }
        }
    }
}

impl AsFd for Replier {
    fn as_fd(&self) -> BorrowedFd<'_> {
        self.fd.as_fd()
    }
}

impl AsRawFd for Replier {
    fn as_raw_fd(&self) -> RawFd {
        self.fd.as_raw_fd()
    }
}
