//! Memory shared with io_uring: anonymous mappings and the provided-buffer ring (entries the
//! kernel takes buffers from, plus the buffers), with the raw pointer work behind methods.

use std::io;
use std::sync::atomic::{AtomicU16, Ordering};

use io_uring::types;

/// Anonymous, page-aligned memory shared with the kernel.
pub(crate) struct Mmap {
    ptr: *mut u8,
    len: usize,
}

impl Mmap {
    /// A fresh read-write mapping of `len` bytes.
    pub(crate) fn new(len: usize) -> io::Result<Mmap> {
        // SAFETY: an anonymous private mapping with no address hint has no preconditions.
        let p = unsafe {
            libc::mmap(
                std::ptr::null_mut(),
                len,
                libc::PROT_READ | libc::PROT_WRITE,
                libc::MAP_PRIVATE | libc::MAP_ANONYMOUS,
                -1,
                0,
            )
        };
        if p == libc::MAP_FAILED {
            return Err(io::Error::last_os_error());
        }
        Ok(Mmap { ptr: p.cast(), len })
    }

    /// The mapping's address, for registering it with the kernel.
    pub(crate) fn addr(&self) -> u64 {
        self.ptr as u64
    }
}

// SAFETY: the mapping is owned by this value alone (no alias is handed out beyond borrows of
// `self`), so moving it to another thread moves sole ownership; the kernel's access to it does
// not depend on which thread the owner runs on.
unsafe impl Send for Mmap {}

impl Drop for Mmap {
    fn drop(&mut self) {
        // SAFETY: `ptr`/`len` is exactly the mapping created in `new`, unmapped once.
        unsafe { libc::munmap(self.ptr.cast(), self.len) };
    }
}

/// The provided-buffer ring: entries shared with the kernel plus the buffers they point to.
pub(crate) struct BufRing {
    entries: Mmap,
    bufs: Mmap,
    count: u16,
    mask: u16,
    stride: usize,
    /// Bytes of each buffer offered to the kernel: the header, name and control areas (recvmsg)
    /// plus exactly the configured payload size (the stride's alignment padding is not offered,
    /// so a datagram is cut at the same length as with the other methods).
    buf_len: usize,
    tail: std::cell::Cell<u16>,
}

impl BufRing {
    /// `count` buffers of `stride` bytes, `buf_len` of each offered to the kernel, all on the
    /// ring (published).
    pub(crate) fn new(count: usize, stride: usize, buf_len: usize) -> io::Result<BufRing> {
        debug_assert!(buf_len <= stride);
        let entries = Mmap::new(count * std::mem::size_of::<types::BufRingEntry>())?;
        let bufs = Mmap::new(count * stride)?;
        let r = BufRing {
            entries,
            bufs,
            count: count as u16,
            mask: (count - 1) as u16,
            stride,
            buf_len,
            tail: std::cell::Cell::new(0),
        };
        for bid in 0..count {
            r.put(bid as u16, bid as u16);
        }
        r.tail.set(count as u16);
        r.publish();
        Ok(r)
    }

    /// The entries mapping's address, for `IORING_REGISTER_PBUF_RING`.
    pub(crate) fn entries_addr(&self) -> u64 {
        self.entries.addr()
    }

    /// Number of buffers (and ring entries).
    pub(crate) fn count(&self) -> u16 {
        self.count
    }

    fn base(&self) -> *mut types::BufRingEntry {
        self.entries.ptr.cast()
    }

    /// Writes buffer `bid` into ring slot `slot & mask`.
    #[inline]
    fn put(&self, slot: u16, bid: u16) {
        let idx = (slot & self.mask) as usize;
        // SAFETY: `idx < count`, inside the entries mapping; the kernel only reads slots between
        // its head and our published tail, and this slot is beyond the tail until `publish`.
        // No other reference to this entry exists (buffers are handed out by `buffer`, which
        // points into the other mapping).
        let e = unsafe { &mut *self.base().add(idx) };
        e.set_addr(self.bufs.ptr as u64 + bid as u64 * self.stride as u64);
        e.set_len(self.buf_len as u32);
        e.set_bid(bid);
    }

    /// Makes every slot written so far visible to the kernel.
    #[inline]
    fn publish(&self) {
        // SAFETY: the tail field of the first entry is a properly aligned u16 inside the mapping,
        // written by us and read by the kernel, hence accessed atomically.
        let tail = unsafe { &*(types::BufRingEntry::tail(self.base()) as *const AtomicU16) };
        tail.store(self.tail.get(), Ordering::Release);
    }

    /// Gives buffers back to the kernel, advancing the tail once.
    ///
    /// Every slice [`BufRing::buffer`] returned for these buffers must be gone by now.
    #[inline]
    pub(crate) fn recycle(&self, bids: &[u16]) {
        if bids.is_empty() {
            return;
        }
        let tail = self.tail.get();
        for (i, &bid) in bids.iter().enumerate() {
            self.put(tail.wrapping_add(i as u16), bid);
        }
        self.tail.set(tail.wrapping_add(bids.len() as u16));
        self.publish();
    }

    /// The first `len` bytes of buffer `bid` (clamped to the buffer), or `None` for a buffer id
    /// outside the ring.
    ///
    /// # Safety
    /// `bid` must come from a CQE this loop received (the kernel took the buffer off the ring and
    /// finished writing it), and the slice must be dropped before `bid` is given back with
    /// [`BufRing::recycle`] (until then the kernel does not write this buffer) and before the
    /// ring is dropped (the lifetime `'b` is the caller's to bound).
    #[inline]
    pub(crate) unsafe fn buffer<'b>(&self, bid: u16, len: usize) -> Option<&'b [u8]> {
        if bid >= self.count {
            return None;
        }
        // SAFETY: `bid < count`, so the buffer lies inside the `bufs` mapping, which lives as
        // long as `self`; the caller guarantees the kernel does not write it while the slice
        // lives.
        Some(unsafe {
            std::slice::from_raw_parts(
                self.bufs.ptr.add(bid as usize * self.stride),
                len.min(self.stride),
            )
        })
    }
}
