//! AF_XDP sockets: a UMEM of equal frames, its fill (and completion) ring, and an RX ring,
//! bound to one queue of an interface.
//!
//! Ring protocol (Documentation/networking/af_xdp.rst): the kernel produces RX descriptors and
//! consumes fill addresses; user space reads the RX producer index with Acquire, the
//! descriptors below it, then publishes its RX consumer index with Release once it is done with
//! the frames, and hands the frames back by writing fill entries and publishing the fill
//! producer index with Release. Every frame is always in exactly one place: the fill ring, the
//! RX ring, or the receive loop's hands for one batch, so the fill ring (as large as the number
//! of frames) always has room for the frames handed back.

use std::io;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd, RawFd};
use std::sync::atomic::{AtomicU32, Ordering};

const AF_XDP: libc::c_int = 44;
const SOL_XDP: libc::c_int = 283;
const XDP_MMAP_OFFSETS: libc::c_int = 1;
const XDP_RX_RING: libc::c_int = 2;
const XDP_UMEM_REG: libc::c_int = 4;
const XDP_UMEM_FILL_RING: libc::c_int = 5;
const XDP_UMEM_COMPLETION_RING: libc::c_int = 6;
const XDP_STATISTICS: libc::c_int = 7;
const XDP_OPTIONS: libc::c_int = 8;
const XDP_OPTIONS_ZEROCOPY: u32 = 1;
const XDP_COPY: u16 = 1 << 1;
const XDP_ZEROCOPY: u16 = 1 << 2;
const XDP_USE_NEED_WAKEUP: u16 = 1 << 3;
const XDP_RING_NEED_WAKEUP: u32 = 1;
const PGOFF_RX_RING: libc::off_t = 0;
const PGOFF_FILL_RING: libc::off_t = 0x1_0000_0000;
const PGOFF_COMPLETION_RING: libc::off_t = 0x1_8000_0000;
/// Bytes per UMEM frame (one datagram each; aligned mode needs a power of two ≥ 2048).
pub(crate) const FRAME_SIZE: usize = 2048;
const COMPLETION_ENTRIES: u32 = 64;

#[repr(C)]
#[derive(Default, Clone, Copy)]
struct RingOffset {
    producer: u64,
    consumer: u64,
    desc: u64,
    flags: u64,
}

#[repr(C)]
#[derive(Default, Clone, Copy)]
struct MmapOffsets {
    rx: RingOffset,
    tx: RingOffset,
    fr: RingOffset,
    cr: RingOffset,
}

#[repr(C)]
struct UmemReg {
    addr: u64,
    len: u64,
    chunk_size: u32,
    headroom: u32,
    flags: u32,
    tx_metadata_len: u32,
}

#[repr(C)]
struct SockaddrXdp {
    family: u16,
    flags: u16,
    ifindex: u32,
    queue_id: u32,
    shared_umem_fd: u32,
}

/// One RX descriptor (`struct xdp_desc`).
#[repr(C)]
#[derive(Debug, Clone, Copy)]
pub(crate) struct Desc {
    /// Offset of the packet in the UMEM.
    pub addr: u64,
    /// Packet length.
    pub len: u32,
    /// Flags (multi-buffer continuation).
    pub options: u32,
}

/// The socket's counters (`struct xdp_statistics`).
#[repr(C)]
#[derive(Debug, Clone, Copy, Default)]
pub(crate) struct Stats {
    pub rx_dropped: u64,
    pub rx_invalid_descs: u64,
    pub tx_invalid_descs: u64,
    pub rx_ring_full: u64,
    pub rx_fill_ring_empty_descs: u64,
    pub tx_ring_empty_descs: u64,
}

impl Stats {
    /// Frames the kernel could not give this socket (no room, no buffer, other reasons).
    pub(crate) fn drops(&self) -> u64 {
        self.rx_dropped.saturating_add(self.rx_ring_full)
    }
}

/// A memory mapping, unmapped on drop.
struct Map {
    ptr: *mut u8,
    len: usize,
}

// SAFETY: the mapping is plain memory; the rings it holds are only touched through atomics
// and by the one thread that owns the socket.
unsafe impl Send for Map {}
// SAFETY: as above; shared references only read it.
unsafe impl Sync for Map {}

impl Map {
    fn new(fd: RawFd, len: usize, offset: libc::off_t) -> io::Result<Map> {
        let (flags, fd) = if fd < 0 {
            (libc::MAP_PRIVATE | libc::MAP_ANONYMOUS, -1)
        } else {
            (libc::MAP_SHARED | libc::MAP_POPULATE, fd)
        };
        // SAFETY: a fresh mapping with no address hint; for rings, `fd` is a live AF_XDP socket
        // and `offset`/`len` are what its XDP_MMAP_OFFSETS answer describes.
        let p = unsafe {
            libc::mmap(
                std::ptr::null_mut(),
                len,
                libc::PROT_READ | libc::PROT_WRITE,
                flags,
                fd,
                offset,
            )
        };
        if p == libc::MAP_FAILED {
            return Err(io::Error::last_os_error());
        }
        Ok(Map { ptr: p.cast(), len })
    }
}

impl Drop for Map {
    fn drop(&mut self) {
        // SAFETY: exactly the mapping made in `new`, unmapped once.
        unsafe { libc::munmap(self.ptr.cast(), self.len) };
    }
}

/// One mapped ring: producer and consumer indices, flags, and `size` entries.
struct Ring {
    map: Map,
    off: RingOffset,
    mask: u32,
}

impl Ring {
    fn map(
        fd: RawFd,
        off: RingOffset,
        entries: u32,
        entry: usize,
        pgoff: libc::off_t,
    ) -> io::Result<Ring> {
        let len = off.desc as usize + entries as usize * entry;
        Ok(Ring { map: Map::new(fd, len, pgoff)?, off, mask: entries - 1 })
    }
    fn index(&self, at: u64) -> &AtomicU32 {
        // SAFETY: the kernel's offsets point at aligned u32 indices inside the mapping, which
        // lives as long as `self`; the kernel changes them concurrently, hence atomics.
        unsafe { &*(self.map.ptr.add(at as usize) as *const AtomicU32) }
    }
    fn producer(&self) -> &AtomicU32 {
        self.index(self.off.producer)
    }
    fn consumer(&self) -> &AtomicU32 {
        self.index(self.off.consumer)
    }
    fn flags(&self) -> u32 {
        self.index(self.off.flags).load(Ordering::Relaxed)
    }
}

/// What a bound socket got from the kernel.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Mode {
    /// Zero-copy (driver support) rather than copy mode.
    pub zero_copy: bool,
    /// Need-wakeup flags are in use.
    pub need_wakeup: bool,
}

/// An AF_XDP socket bound to one queue, with its UMEM and rings.
pub(crate) struct Xsk {
    fd: OwnedFd,
    umem: Map,
    rx: Ring,
    fill: Ring,
    _completion: Ring,
    /// Our copy of the RX consumer and fill producer indices.
    rx_cons: u32,
    fill_prod: u32,
    frames: u32,
    /// How the bind went.
    pub mode: Mode,
    /// The queue it is bound to.
    pub queue: u32,
}

impl std::fmt::Debug for Xsk {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Xsk").field("fd", &self.fd).field("queue", &self.queue).finish()
    }
}

fn setsockopt<T>(fd: RawFd, name: libc::c_int, val: &T) -> io::Result<()> {
    // SAFETY: `val` is a live value of the size passed; the kernel only reads it.
    let rc = unsafe {
        libc::setsockopt(
            fd,
            SOL_XDP,
            name,
            (val as *const T).cast(),
            std::mem::size_of::<T>() as libc::socklen_t,
        )
    };
    if rc == 0 { Ok(()) } else { Err(io::Error::last_os_error()) }
}

fn getsockopt<T: Default>(fd: RawFd, name: libc::c_int) -> io::Result<T> {
    let mut v = T::default();
    let mut len = std::mem::size_of::<T>() as libc::socklen_t;
    // SAFETY: `v` is writable for `len` bytes; the kernel writes at most that and sets `len`.
    let rc = unsafe { libc::getsockopt(fd, SOL_XDP, name, (&mut v as *mut T).cast(), &mut len) };
    if rc == 0 { Ok(v) } else { Err(io::Error::last_os_error()) }
}

/// Where creating the socket failed, for the caller's message.
#[derive(Debug)]
pub(crate) enum XskError {
    /// socket(AF_XDP) itself.
    Socket(io::Error),
    /// UMEM registration, ring set-up or mapping.
    Setup(&'static str, io::Error),
    /// bind() to the queue.
    Bind(io::Error),
}

/// Opens and closes an AF_XDP socket: whether the kernel has them and we may create them.
pub(crate) fn probe() -> io::Result<()> {
    // SAFETY: plain socket(2) call; the fd is owned (and closed) right below.
    let raw = unsafe { libc::socket(AF_XDP, libc::SOCK_RAW | libc::SOCK_CLOEXEC, 0) };
    if raw < 0 {
        return Err(io::Error::last_os_error());
    }
    // SAFETY: `raw` is a fresh descriptor nothing else owns.
    drop(unsafe { OwnedFd::from_raw_fd(raw) });
    Ok(())
}

impl Xsk {
    /// Creates a socket with `frames` UMEM frames (a power of two; also every ring's size) and
    /// binds it to `queue` of `ifindex`: zero-copy with need-wakeup if the driver offers it,
    /// else copy mode.
    pub(crate) fn open(ifindex: u32, queue: u32, frames: u32) -> Result<Xsk, XskError> {
        // SAFETY: plain socket(2) call; the fd is owned below.
        let raw = unsafe { libc::socket(AF_XDP, libc::SOCK_RAW | libc::SOCK_CLOEXEC, 0) };
        if raw < 0 {
            return Err(XskError::Socket(io::Error::last_os_error()));
        }
        // SAFETY: `raw` is a fresh descriptor nothing else owns.
        let fd = unsafe { OwnedFd::from_raw_fd(raw) };
        let s = |what| move |e| XskError::Setup(what, e);
        let umem = Map::new(-1, frames as usize * FRAME_SIZE, 0).map_err(s("UMEM mmap"))?;
        let reg = UmemReg {
            addr: umem.ptr as u64,
            len: umem.len as u64,
            chunk_size: FRAME_SIZE as u32,
            headroom: 0,
            flags: 0,
            tx_metadata_len: 0,
        };
        setsockopt(raw, XDP_UMEM_REG, &reg).map_err(s("XDP_UMEM_REG"))?;
        setsockopt(raw, XDP_UMEM_FILL_RING, &frames).map_err(s("XDP_UMEM_FILL_RING"))?;
        setsockopt(raw, XDP_UMEM_COMPLETION_RING, &COMPLETION_ENTRIES)
            .map_err(s("XDP_UMEM_COMPLETION_RING"))?;
        setsockopt(raw, XDP_RX_RING, &frames).map_err(s("XDP_RX_RING"))?;
        let off: MmapOffsets = getsockopt(raw, XDP_MMAP_OFFSETS).map_err(s("XDP_MMAP_OFFSETS"))?;
        let desc = std::mem::size_of::<Desc>();
        let rx = Ring::map(raw, off.rx, frames, desc, PGOFF_RX_RING).map_err(s("RX ring mmap"))?;
        let fill =
            Ring::map(raw, off.fr, frames, 8, PGOFF_FILL_RING).map_err(s("fill ring mmap"))?;
        let completion = Ring::map(raw, off.cr, COMPLETION_ENTRIES, 8, PGOFF_COMPLETION_RING)
            .map_err(s("completion ring mmap"))?;
        let mut xsk = Xsk {
            fd,
            umem,
            rx,
            fill,
            _completion: completion,
            rx_cons: 0,
            fill_prod: 0,
            frames,
            mode: Mode { zero_copy: false, need_wakeup: false },
            queue,
        };
        // Every frame goes to the fill ring before the bind, so the first packets find room.
        for i in 0..frames {
            xsk.fill_slot(i, i as u64 * FRAME_SIZE as u64);
        }
        xsk.fill_prod = frames;
        xsk.fill.producer().store(frames, Ordering::Release);
        let attempts =
            [XDP_ZEROCOPY | XDP_USE_NEED_WAKEUP, XDP_COPY | XDP_USE_NEED_WAKEUP, XDP_COPY];
        let mut last = None;
        // A socket closed a moment ago releases its queue asynchronously (deferred pool
        // release): EBUSY is retried for up to a second before it counts.
        let t0 = std::time::Instant::now();
        let mut i = 0;
        while let Some(&flags) = attempts.get(i) {
            let sa = SockaddrXdp {
                family: AF_XDP as u16,
                flags,
                ifindex,
                queue_id: queue,
                shared_umem_fd: 0,
            };
            // SAFETY: `sa` is a live sockaddr_xdp of the size passed.
            let rc = unsafe {
                libc::bind(
                    raw,
                    (&sa as *const SockaddrXdp).cast(),
                    std::mem::size_of::<SockaddrXdp>() as libc::socklen_t,
                )
            };
            if rc == 0 {
                let opts: u32 = getsockopt(raw, XDP_OPTIONS).unwrap_or(0);
                xsk.mode = Mode {
                    zero_copy: opts & XDP_OPTIONS_ZEROCOPY != 0,
                    need_wakeup: flags & XDP_USE_NEED_WAKEUP != 0,
                };
                return Ok(xsk);
            }
            let e = io::Error::last_os_error();
            if e.raw_os_error() == Some(libc::EBUSY)
                && t0.elapsed() < std::time::Duration::from_secs(1)
            {
                std::thread::sleep(std::time::Duration::from_millis(20));
                continue;
            }
            // Only "this mode is not offered" moves on to the next mode.
            let next = matches!(
                e.raw_os_error(),
                Some(libc::EOPNOTSUPP) | Some(libc::EINVAL) | Some(libc::EPROTONOSUPPORT)
            );
            last = Some(e);
            if !next {
                break;
            }
            i += 1;
        }
        Err(XskError::Bind(last.unwrap_or_else(|| io::Error::other("bind failed"))))
    }

    fn fill_slot(&mut self, idx: u32, addr: u64) {
        let slot = (idx & self.fill.mask) as usize;
        // SAFETY: `slot` < ring size; the fill descriptors (u64 each) start at `off.desc` inside
        // the mapping, and slots between our producer and the kernel's consumer are ours.
        unsafe {
            let p = self.fill.map.ptr.add(self.fill.off.desc as usize) as *mut u64;
            p.add(slot).write(addr);
        }
    }

    /// The socket's descriptor.
    pub(crate) fn fd(&self) -> RawFd {
        self.fd.as_raw_fd()
    }

    /// The whole UMEM, which descriptors index into.
    pub(crate) fn umem(&self) -> &[u8] {
        // SAFETY: mapped for `len` bytes for the life of `self`. The kernel writes only frames
        // in the fill ring; the frames a batch points at are ours until `release`.
        unsafe { std::slice::from_raw_parts(self.umem.ptr, self.umem.len) }
    }

    /// Up to `max` received descriptors, copied into `out`; returns how many. The frames stay
    /// ours until [`Xsk::release`].
    pub(crate) fn peek(&mut self, out: &mut [Desc]) -> usize {
        let prod = self.rx.producer().load(Ordering::Acquire);
        let n = (prod.wrapping_sub(self.rx_cons) as usize).min(out.len());
        let base = self.rx.off.desc as usize;
        for (i, d) in out[..n].iter_mut().enumerate() {
            let slot = (self.rx_cons.wrapping_add(i as u32) & self.rx.mask) as usize;
            // SAFETY: `slot` < ring size; descriptors below the producer index (read with
            // Acquire above) are written by the kernel and not touched again until released.
            *d = unsafe { (self.rx.map.ptr.add(base) as *const Desc).add(slot).read() };
        }
        n
    }

    /// Gives the RX slots of the last `n` peeked descriptors back and their frames to the
    /// fill ring.
    pub(crate) fn release(&mut self, descs: &[Desc]) {
        let mask = !(FRAME_SIZE as u64 - 1);
        for (i, d) in descs.iter().enumerate() {
            let at = self.fill_prod.wrapping_add(i as u32);
            self.fill_slot(at, d.addr & mask);
        }
        let n = descs.len() as u32;
        debug_assert!(n <= self.frames);
        self.rx_cons = self.rx_cons.wrapping_add(n);
        self.rx.consumer().store(self.rx_cons, Ordering::Release);
        self.fill_prod = self.fill_prod.wrapping_add(n);
        self.fill.producer().store(self.fill_prod, Ordering::Release);
    }

    /// True when the kernel asks to be woken to refill (need-wakeup mode only).
    pub(crate) fn fill_needs_wakeup(&self) -> bool {
        self.mode.need_wakeup && self.fill.flags() & XDP_RING_NEED_WAKEUP != 0
    }

    /// The socket's drop counters.
    pub(crate) fn stats(&self) -> io::Result<Stats> {
        getsockopt(self.fd(), XDP_STATISTICS)
    }

    /// Waits up to `timeout_ms` for RX descriptors (also the wake-up need-wakeup asks for).
    /// Returns false on timeout or signal.
    pub(crate) fn wait(&self, timeout_ms: i32) -> io::Result<bool> {
        let mut p = libc::pollfd { fd: self.fd(), events: libc::POLLIN, revents: 0 };
        // SAFETY: `p` is one live pollfd.
        let rc = unsafe { libc::poll(&mut p, 1, timeout_ms) };
        if rc < 0 {
            let e = io::Error::last_os_error();
            return if e.raw_os_error() == Some(libc::EINTR) { Ok(false) } else { Err(e) };
        }
        Ok(rc > 0)
    }

    /// A non-blocking wake-up (need-wakeup in spin mode).
    pub(crate) fn kick(&self) {
        // SAFETY: a zero-length non-blocking receive on our socket reads nothing.
        unsafe {
            libc::recvfrom(
                self.fd(),
                std::ptr::null_mut(),
                0,
                libc::MSG_DONTWAIT,
                std::ptr::null_mut(),
                std::ptr::null_mut(),
            )
        };
    }
}
