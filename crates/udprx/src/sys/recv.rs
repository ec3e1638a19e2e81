//! The receive system calls of the socket methods behind safe wrappers: `recvfrom(2)` and
//! `recvmsg(2)` into one owned buffer ([`MsgBuffers`]), and `recvmmsg(2)` over owned header
//! arrays ([`MmsgHeaders`]). Each type owns every buffer its kernel headers point at, so the
//! pointers stay valid for as long as the type lives; `method/` only reads the results.
//!
//! The calls go straight to the kernel (`syscall(2)`), not through libc's `recvfrom`/`recvmsg`/
//! `recvmmsg` wrappers: those are thread-cancellation points, and in a process with more than
//! one thread (every udprx receiver: a receive thread besides the caller's) each call also
//! switches asynchronous cancellation on and off around the system call. A single-threaded C
//! loop skips that; with one datagram per call it cost udprx's `recvfrom` path about 6% of the
//! bare loop's CPU per datagram (`perf record -e cpu-clock`:
//! `__pthread_disable_asynccancel`/`__pthread_enable_asynccancel`, docs/results.md). udprx never
//! cancels threads, so nothing is lost.

use std::io;
use std::os::fd::RawFd;

use super::cmsg::{self, CONTROL_LEN, NAME_LEN};
use crate::batch::{Datagram, RecvMeta};

#[derive(Clone, Copy)]
#[repr(C, align(8))]
struct Aligned<const N: usize>([u8; N]);

/// What one `recvmsg` gave back.
#[derive(Debug, Clone, Copy)]
pub(crate) struct MsgReceived {
    /// The call's return value: the datagram's length (its real length under MSG_TRUNC).
    pub len: usize,
    /// `msg_flags` of the header (MSG_TRUNC when the datagram was cut).
    pub msg_flags: i32,
    /// Bytes of control messages the kernel wrote.
    pub control_len: usize,
}

/// One payload buffer, one socket-address area and one control area, allocated once, for one
/// datagram per call.
pub(crate) struct MsgBuffers {
    buf: Vec<u8>,
    name: Box<Aligned<NAME_LEN>>,
    control: Box<Aligned<CONTROL_LEN>>,
    /// Control bytes offered to the kernel (at most [`CONTROL_LEN`]).
    control_len: usize,
}

impl MsgBuffers {
    /// A `buffer_size`-byte payload buffer and `control_len` bytes of control space (clamped
    /// to [`CONTROL_LEN`]).
    pub(crate) fn new(buffer_size: usize, control_len: usize) -> MsgBuffers {
        MsgBuffers {
            buf: vec![0u8; buffer_size],
            name: Box::new(Aligned([0u8; NAME_LEN])),
            control: Box::new(Aligned([0u8; CONTROL_LEN])),
            control_len: control_len.min(CONTROL_LEN),
        }
    }

    /// `recvmsg(fd, flags)` into the buffer, the control area and, with `want_addr`, the name.
    #[inline]
    pub(crate) fn recvmsg(
        &mut self,
        fd: RawFd,
        flags: i32,
        want_addr: bool,
    ) -> io::Result<MsgReceived> {
        let buf = &mut self.buf;
        let mut iov = libc::iovec { iov_base: buf.as_mut_ptr().cast(), iov_len: buf.len() };
        // SAFETY: all-zero is a valid msghdr (null pointers, zero lengths).
        let mut msg: libc::msghdr = unsafe { std::mem::zeroed() };
        msg.msg_iov = &mut iov;
        msg.msg_iovlen = 1;
        if want_addr {
            msg.msg_name = self.name.0.as_mut_ptr().cast();
            msg.msg_namelen = NAME_LEN as libc::socklen_t;
        }
        msg.msg_control = self.control.0.as_mut_ptr().cast();
        msg.msg_controllen = self.control_len as _;
        // SAFETY: `msg` points at `iov` (the live `buf`), `control` and (or NULL, length 0)
        // `name`, each with its true length (`control_len` ≤ CONTROL_LEN); all outlive the call.
        let n = unsafe { libc::syscall(libc::SYS_recvmsg, fd, &mut msg, flags) };
        if n < 0 {
            return Err(io::Error::last_os_error());
        }
        Ok(MsgReceived {
            len: n as usize,
            msg_flags: msg.msg_flags,
            control_len: cmsg::control_len(&msg).min(self.control_len),
        })
    }

    /// `recvfrom(fd, flags)` into the buffer, with the source address into the name area, or
    /// with a NULL address (the kernel copies none) when `want_addr` is false. Returns the
    /// call's value: the datagram's length (its real length under MSG_TRUNC).
    #[inline]
    pub(crate) fn recvfrom(&mut self, fd: RawFd, flags: i32, want_addr: bool) -> io::Result<usize> {
        let mut namelen = NAME_LEN as libc::socklen_t;
        let (addr, addrlen): (*mut libc::sockaddr, *mut libc::socklen_t) = if want_addr {
            (self.name.0.as_mut_ptr().cast(), &mut namelen as *mut libc::socklen_t)
        } else {
            (std::ptr::null_mut(), std::ptr::null_mut())
        };
        let buf = &mut self.buf;
        // SAFETY: `buf` is live and writable for its length; `addr`/`addrlen` are both NULL
        // (no address wanted) or point at the live `name` and `namelen`.
        let n = unsafe {
            libc::syscall(libc::SYS_recvfrom, fd, buf.as_mut_ptr(), buf.len(), flags, addr, addrlen)
        };
        if n < 0 {
            return Err(io::Error::last_os_error());
        }
        Ok(n as usize)
    }

    /// The payload buffer.
    #[inline]
    pub(crate) fn buf(&self) -> &[u8] {
        &self.buf
    }

    /// The socket-address area (decode with [`cmsg::sockaddr`]).
    #[inline]
    pub(crate) fn name(&self) -> &[u8] {
        &self.name.0
    }

    /// The first `len` bytes of the control area (clamped to the space offered).
    #[inline]
    pub(crate) fn control(&self, len: usize) -> &[u8] {
        &self.control.0[..len.min(self.control_len)]
    }
}

/// The arena, the socket-address areas, the control areas, the iovecs and the `mmsghdr` array
/// of one `recvmmsg` receiver, allocated once; every header points at its own entries.
pub(crate) struct MmsgHeaders {
    n: usize,
    /// Bytes of each header's slice of the arena.
    size: usize,
    name_len: libc::socklen_t,
    control_len: usize,
    /// Start of the first control area in `controls` (aligned to 8).
    cbase: usize,
    /// Headers the last call filled (their lengths are reset before the next call).
    used: usize,
    arena: Vec<u8>,
    names: Vec<Aligned<NAME_LEN>>,
    controls: Vec<u8>,
    /// Referred to by `msgs`; kept alive (and unmoved: heap) with them.
    _iovs: Vec<libc::iovec>,
    msgs: Vec<libc::mmsghdr>,
}

// SAFETY: the raw pointers in `_iovs` and `msgs` point only into this value's own heap
// allocations (`arena`, `names`, `controls`, `_iovs`), which move with it and are never shared;
// the value is used through `&mut self` alone, so sending it to another thread is sending sole
// ownership of the memory the pointers refer to.
unsafe impl Send for MmsgHeaders {}

impl MmsgHeaders {
    /// `n` headers, each over its own `size`-byte slice of the arena. With `names`, each has a
    /// socket-address area; with `control_len` > 0, that many bytes of control space
    /// (8-aligned). Without, the headers carry neither (the kernel writes no address and no
    /// control message).
    pub(crate) fn new(n: usize, size: usize, names: bool, control_len: usize) -> MmsgHeaders {
        let mut arena = vec![0u8; n * size];
        let mut name_areas = vec![Aligned([0u8; NAME_LEN]); n];
        let mut controls = vec![0u8; n * control_len + 8];
        let cbase = controls.as_ptr().align_offset(8).min(8);
        let mut iovs: Vec<libc::iovec> = arena
            .chunks_mut(size)
            .map(|c| libc::iovec { iov_base: c.as_mut_ptr().cast(), iov_len: c.len() })
            .collect();
        // SAFETY: all-zero is a valid mmsghdr (null pointers, zero lengths).
        let mut msgs: Vec<libc::mmsghdr> = (0..n).map(|_| unsafe { std::mem::zeroed() }).collect();
        for i in 0..n {
            let h = &mut msgs[i].msg_hdr;
            h.msg_iov = &mut iovs[i];
            h.msg_iovlen = 1;
            if names {
                h.msg_name = name_areas[i].0.as_mut_ptr().cast();
            }
            if control_len > 0 {
                h.msg_control = controls[cbase + i * control_len..].as_mut_ptr().cast();
            }
        }
        MmsgHeaders {
            n,
            size,
            name_len: if names { NAME_LEN as libc::socklen_t } else { 0 },
            control_len,
            cbase,
            used: n,
            arena,
            names: name_areas,
            controls,
            _iovs: iovs,
            msgs,
        }
    }

    /// `recvmmsg(fd, headers, n, flags, NULL)`: the number of headers filled. A call that
    /// fills none is `WouldBlock`.
    #[inline]
    pub(crate) fn recv(&mut self, fd: RawFd, flags: i32) -> io::Result<usize> {
        // The kernel writes back the name and control lengths of the headers it filled, so
        // those are restored before the next call; headers without either need nothing (it
        // writes `msg_controllen` 0 and overwrites `msg_flags` of every header it fills).
        if self.name_len != 0 || self.control_len != 0 {
            for m in &mut self.msgs[..self.used] {
                m.msg_hdr.msg_namelen = self.name_len;
                m.msg_hdr.msg_controllen = self.control_len as _;
            }
        }
        // SAFETY: every header points at its own `iovs` entry and, when given, its own `names`
        // and `controls` entries (NULL, length 0 when not), with the true lengths; those
        // vectors (and `arena`) live, unmoved, as long as `self`.
        let got = unsafe {
            libc::syscall(
                libc::SYS_recvmmsg,
                fd,
                self.msgs.as_mut_ptr(),
                self.n as libc::c_uint,
                flags,
                std::ptr::null_mut::<libc::timespec>(),
            )
        };
        if got <= 0 {
            self.used = 0;
            return Err(if got < 0 {
                io::Error::last_os_error()
            } else {
                io::ErrorKind::WouldBlock.into()
            });
        }
        self.used = got as usize;
        Ok(self.used)
    }

    /// The arena the headers' buffers slice (header `i` at `i * size`).
    #[inline]
    pub(crate) fn arena(&self) -> &[u8] {
        &self.arena
    }

    /// Header `i`'s `msg_len`: the datagram's length (its real length under MSG_TRUNC).
    #[inline]
    pub(crate) fn msg_len(&self, i: usize) -> usize {
        self.msgs[i].msg_len as usize
    }

    /// Header `i`'s `msg_flags` (MSG_TRUNC when the datagram was cut).
    #[inline]
    pub(crate) fn msg_flags(&self, i: usize) -> i32 {
        self.msgs[i].msg_hdr.msg_flags
    }

    /// The control messages the kernel wrote for header `i`.
    #[inline]
    pub(crate) fn control(&self, i: usize) -> &[u8] {
        let clen = cmsg::control_len(&self.msgs[i].msg_hdr).min(self.control_len);
        let off = self.cbase + i * self.control_len;
        &self.controls[off..off + clen]
    }

    /// Header `i`'s socket-address area (decode with [`cmsg::sockaddr`]).
    #[inline]
    pub(crate) fn name(&self, i: usize) -> &[u8] {
        &self.names[i].0
    }

    /// The first `used` headers as the last call left them (for headers without a control
    /// area: a batch reads each datagram's length straight from its header, with no record in
    /// between).
    #[inline]
    pub(crate) fn view(&self, used: usize) -> MmsgView<'_> {
        let used = used.min(self.used);
        MmsgView {
            msgs: &self.msgs[..used],
            arena: &self.arena,
            size: self.size,
            names: (self.name_len != 0).then(|| &self.names[..used]),
        }
    }
}

/// What one `recvmmsg` call filled, read in place: each datagram's payload in the arena, its
/// length and flags from its header, its source from its name area (when the headers have one).
#[derive(Clone, Copy)]
pub(crate) struct MmsgView<'a> {
    msgs: &'a [libc::mmsghdr],
    arena: &'a [u8],
    size: usize,
    names: Option<&'a [Aligned<NAME_LEN>]>,
}

// SAFETY: the view reads only the headers' integer fields (`msg_len`, `msg_flags`) through a
// shared borrow of headers nobody writes while it lives; their pointers are never followed
// through it, so sharing or sending the view shares nothing but plain integers and bytes.
unsafe impl Send for MmsgView<'_> {}
// SAFETY: as for `Send` above: read-only integers and bytes.
unsafe impl Sync for MmsgView<'_> {}

impl std::fmt::Debug for MmsgView<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("MmsgView")
            .field("datagrams", &self.msgs.len())
            .field("size", &self.size)
            .field("names", &self.names.is_some())
            .finish()
    }
}

impl<'a> MmsgView<'a> {
    /// Datagrams the call filled.
    #[inline]
    pub(crate) fn len(&self) -> usize {
        self.msgs.len()
    }

    /// Datagram `i` (`i < len()`) as its header describes it.
    #[inline]
    pub(crate) fn datagram(&self, i: usize) -> Datagram<'a> {
        let m = &self.msgs[i];
        let full = m.msg_len as usize;
        let start = (i * self.size).min(self.arena.len());
        let end = (start + full.min(self.size)).min(self.arena.len());
        let source = self.names.and_then(|n| cmsg::sockaddr(&n[i].0));
        Datagram {
            payload: &self.arena[start..end],
            wire_len: full.max(end - start),
            source: source.unwrap_or(RecvMeta::EMPTY.source),
            segment_size: 0,
            truncated: full > self.size || m.msg_hdr.msg_flags & libc::MSG_TRUNC != 0,
            kernel_rx_ns: None,
            dst_ip: None,
            ifindex: None,
            ecn: None,
        }
    }
}
