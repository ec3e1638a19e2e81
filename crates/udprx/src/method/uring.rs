//! io_uring multishot `recvmsg` over a provided-buffer ring.
//!
//! One `RecvMsgMulti` request stays armed on the socket; every datagram completes as one CQE
//! whose buffer (picked by the kernel from the ring) holds an `io_uring_recvmsg_out` header, the
//! source address, the control messages and the payload. The loop hands each drained group of
//! CQEs to the handler as one batch over the buffer region, then gives the buffers back by
//! advancing the ring tail once. A CQE without the MORE flag (e.g. ENOBUFS when the ring ran
//! dry) ends the request, which is then re-armed.

use std::io;
use std::sync::atomic::{AtomicU16, Ordering};

use io_uring::{IoUring, cqueue, opcode, types};
use udpprobe::{Clock, now_ns};

use crate::batch::{Batch, Handler, RecvMeta};
use crate::error::Error;
use crate::method::LoopCtx;
use crate::sys::cmsg::{self, CONTROL_LEN, NAME_LEN};

const BGID: u16 = 0;
const RECV_TAG: u64 = 1;
/// Size of `struct io_uring_recvmsg_out` that starts every buffer.
const OUT_HDR: usize = 16;
/// Offset of the payload in each ring buffer.
const PAYLOAD_OFF: usize = OUT_HDR + NAME_LEN + CONTROL_LEN;
/// Most buffers one ring may hold (kernel limit).
pub(crate) const MAX_RING_BUFFERS: usize = 32768;

/// Anonymous, page-aligned memory shared with the kernel.
struct Mmap {
    ptr: *mut u8,
    len: usize,
}

impl Mmap {
    fn new(len: usize) -> io::Result<Mmap> {
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
}

impl Drop for Mmap {
    fn drop(&mut self) {
        // SAFETY: `ptr`/`len` is exactly the mapping created in `new`, unmapped once.
        unsafe { libc::munmap(self.ptr.cast(), self.len) };
    }
}

/// How the ring was set up: the flags the kernel accepted.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum RingMode {
    /// SINGLE_ISSUER + DEFER_TASKRUN (+ TASKRUN_FLAG): completions run on our thread only.
    Deferred,
    /// COOP_TASKRUN (+ TASKRUN_FLAG).
    Coop,
    /// No optional setup flags.
    Plain,
}

impl RingMode {
    pub(crate) fn as_str(self) -> &'static str {
        match self {
            RingMode::Deferred => "single_issuer+defer_taskrun",
            RingMode::Coop => "coop_taskrun",
            RingMode::Plain => "plain",
        }
    }
}

fn build_ring(cq: u32, defer: bool) -> io::Result<(IoUring, RingMode)> {
    if defer {
        let r = IoUring::builder()
            .setup_single_issuer()
            .setup_defer_taskrun()
            .setup_taskrun_flag()
            .setup_cqsize(cq)
            .build(8);
        if let Ok(r) = r {
            return Ok((r, RingMode::Deferred));
        }
    }
    match IoUring::builder().setup_coop_taskrun().setup_taskrun_flag().setup_cqsize(cq).build(8) {
        Ok(r) => Ok((r, RingMode::Coop)),
        Err(_) => IoUring::builder().setup_cqsize(cq).build(8).map(|r| (r, RingMode::Plain)),
    }
}

fn setup_reason(e: &io::Error) -> String {
    match e.raw_os_error() {
        Some(libc::ENOSYS) => "io_uring_setup: ENOSYS (kernel built without io_uring)".into(),
        Some(libc::EPERM) => "io_uring_setup: EPERM (sysctl kernel.io_uring_disabled or seccomp \
                              forbids io_uring for this process)"
            .into(),
        _ => format!("io_uring_setup failed: {e}"),
    }
}

/// Checks that this kernel offers everything the uring method needs and says which setup flags
/// it accepts; `Err` names what is missing.
pub(crate) fn probe(defer: bool) -> Result<RingMode, String> {
    if let Ok(s) = std::fs::read_to_string("/proc/sys/kernel/io_uring_disabled")
        && s.trim() == "2"
    {
        return Err("io_uring disabled by sysctl kernel.io_uring_disabled=2".into());
    }
    let ring = IoUring::new(8).map_err(|e| setup_reason(&e))?;
    let mut p = io_uring::Probe::new();
    ring.submitter().register_probe(&mut p).map_err(|e| format!("io_uring probe failed: {e}"))?;
    if !p.is_supported(opcode::RecvMsg::CODE) {
        return Err("kernel io_uring lacks IORING_OP_RECVMSG".into());
    }
    match crate::sys::kernel_version() {
        Some((maj, min)) if (maj, min) < (6, 0) => {
            return Err(format!("kernel {maj}.{min} has no multishot recvmsg (needs 6.0)"));
        }
        _ => {}
    }
    let mem = Mmap::new(4096).map_err(|e| format!("mmap: {e}"))?;
    // SAFETY: `mem` is a page-aligned mapping large enough for one ring entry and outlives the
    // registration, which is undone right below.
    unsafe { ring.submitter().register_buf_ring_with_flags(mem.ptr as u64, 1, BGID, 0) }
        .map_err(|e| format!("provided buffer ring (IORING_REGISTER_PBUF_RING) refused: {e}"))?;
    let _ = ring.submitter().unregister_buf_ring(BGID);
    drop(ring);
    let (_, mode) = build_ring(64, defer).map_err(|e| setup_reason(&e))?;
    Ok(mode)
}

/// The provided-buffer ring: entries shared with the kernel plus the buffers they point to.
struct BufRing {
    entries: Mmap,
    bufs: Mmap,
    count: u16,
    mask: u16,
    stride: usize,
    /// Bytes of each buffer offered to the kernel: the header, name and control areas plus
    /// exactly the configured payload size (the stride's alignment padding is not offered, so
    /// a datagram is cut at the same length as with the other methods).
    buf_len: usize,
    tail: u16,
}

impl BufRing {
    fn new(count: usize, stride: usize, buf_len: usize) -> io::Result<BufRing> {
        debug_assert!(buf_len <= stride);
        let entries = Mmap::new(count * std::mem::size_of::<types::BufRingEntry>())?;
        let bufs = Mmap::new(count * stride)?;
        let mut r = BufRing {
            entries,
            bufs,
            count: count as u16,
            mask: (count - 1) as u16,
            stride,
            buf_len,
            tail: 0,
        };
        for bid in 0..count {
            r.put(bid as u16, bid as u16);
        }
        r.tail = count as u16;
        r.publish();
        Ok(r)
    }

    fn base(&self) -> *mut types::BufRingEntry {
        self.entries.ptr.cast()
    }

    /// Writes buffer `bid` into ring slot `slot & mask`.
    #[inline]
    fn put(&mut self, slot: u16, bid: u16) {
        let idx = (slot & self.mask) as usize;
        // SAFETY: `idx < count`, inside the entries mapping; the kernel only reads slots between
        // its head and our published tail, and this slot is beyond the tail until `publish`.
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
        tail.store(self.tail, Ordering::Release);
    }

    /// Gives buffers back to the kernel, advancing the tail once.
    #[inline]
    fn recycle(&mut self, bids: &[u16]) {
        if bids.is_empty() {
            return;
        }
        for (i, &bid) in bids.iter().enumerate() {
            self.put(self.tail.wrapping_add(i as u16), bid);
        }
        self.tail = self.tail.wrapping_add(bids.len() as u16);
        self.publish();
    }

    /// The whole buffer region as bytes.
    #[inline]
    fn arena(&self) -> &[u8] {
        // SAFETY: the region is mapped for `len` bytes for the life of `self`. The kernel writes
        // only into buffers currently on the ring; the ones a batch refers to were taken off it
        // and are given back (`recycle`) only after the handler has returned.
        unsafe { std::slice::from_raw_parts(self.bufs.ptr, self.bufs.len) }
    }
}

fn uring_err(socket: usize, call: &'static str) -> impl FnOnce(io::Error) -> Error {
    move |source| Error::Recv { socket, call, source }
}

/// Runs the loop until stop, deadline or an error.
pub(crate) fn run<H: Handler>(ctx: &mut LoopCtx<'_, H>) -> Result<(), Error> {
    let count = ctx.cfg.ring_buffers;
    // SAFETY: all-zero is a valid msghdr; declared before the ring so it outlives
    // every request that refers to it; only the name and control lengths matter here.
    let mut msghdr: libc::msghdr = unsafe { std::mem::zeroed() };
    msghdr.msg_namelen = NAME_LEN as libc::socklen_t;
    msghdr.msg_controllen = CONTROL_LEN as _;
    let buf_len = PAYLOAD_OFF + ctx.cfg.buffer_size;
    let stride = buf_len.next_multiple_of(64);
    let mut br = BufRing::new(count, stride, buf_len).map_err(uring_err(ctx.socket, "mmap"))?;
    // Every CQE but error ones consumes a buffer, so twice the buffers can never overflow.
    let cq = (2 * count).clamp(256, 2 * MAX_RING_BUFFERS) as u32;
    let (mut ring, _mode) = build_ring(cq, ctx.cfg.uring_defer)
        .map_err(|e| Error::UringUnavailable(setup_reason(&e)))?;
    // SAFETY: `br.entries` is page-aligned, holds `count` entries and outlives the ring (the
    // ring is dropped first, which also drops the registration).
    unsafe {
        ring.submitter().register_buf_ring_with_flags(br.entries.ptr as u64, br.count, BGID, 0)
    }
    .map_err(|e| {
        Error::UringUnavailable(format!("provided buffer ring registration refused: {e}"))
    })?;

    // MSG_TRUNC: the `io_uring_recvmsg_out` header's `payloadlen` is then the datagram's real
    // length even when the buffer cut it (its `flags` carry MSG_TRUNC).
    let sqe = opcode::RecvMsgMulti::new(types::Fd(ctx.fd), &msghdr, BGID)
        .flags(libc::MSG_TRUNC as u32)
        .build()
        .user_data(RECV_TAG);
    let arm = |ring: &mut IoUring| -> io::Result<()> {
        // SAFETY: the SQE refers to `msghdr` and the registered buffer group, which both live
        // until the ring is dropped at the end of this function.
        if unsafe { ring.submission().push(&sqe) }.is_err() {
            ring.submit()?;
            // SAFETY: as above.
            unsafe { ring.submission().push(&sqe) }
                .map_err(|_| io::Error::other("submission queue full"))?;
        }
        Ok(())
    };
    arm(&mut ring).map_err(uring_err(ctx.socket, "io_uring submit"))?;

    let ts = types::Timespec::from(std::time::Duration::from_nanos(ctx.cfg.idle_ns));
    let args = types::SubmitArgs::new().timespec(&ts);
    let mut metas = vec![RecvMeta::EMPTY; cq as usize];
    let mut bids: Vec<u16> = Vec::with_capacity(cq as usize);
    let mut received_any = false;
    loop {
        let waited =
            if ctx.cfg.spin { ring.submit() } else { ring.submitter().submit_with_args(1, &args) };
        let mut timed_out = false;
        if let Err(e) = waited {
            match e.raw_os_error() {
                Some(libc::ETIME) | Some(libc::EINTR) | Some(libc::EBUSY) | Some(libc::EAGAIN) => {
                    timed_out = true
                }
                _ => {
                    return Err(Error::Recv {
                        socket: ctx.socket,
                        call: "io_uring_enter",
                        source: e,
                    });
                }
            }
        }
        let rx_ns = now_ns(Clock::Monotonic);
        let mut n = 0usize;
        let mut rearm = false;
        let mut failure: Option<i32> = None;
        {
            let arena = br.arena();
            for cqe in ring.completion() {
                let flags = cqe.flags();
                if !cqueue::more(flags) {
                    rearm = true;
                }
                let res = cqe.result();
                if let Some(bid) = cqueue::buffer_select(flags) {
                    bids.push(bid);
                    if res < 0 || n >= metas.len() {
                        continue;
                    }
                    let start = bid as usize * stride;
                    let Some(buf) = arena.get(start..start + br.buf_len) else { continue };
                    let Ok(out) = types::RecvMsgOut::parse(buf, &msghdr) else { continue };
                    let info = cmsg::parse(out.control_data());
                    if info.drops.is_some() {
                        ctx.stats.kernel_drops = info.drops;
                    }
                    let payload = out.payload_data();
                    let wire_len = out.incoming_payload_len() as usize;
                    metas[n] = RecvMeta {
                        offset: start + PAYLOAD_OFF,
                        len: payload.len(),
                        wire_len,
                        source: cmsg::sockaddr(out.name_data()).unwrap_or(RecvMeta::EMPTY.source),
                        segment_size: info.segment_size,
                        truncated: out.is_payload_truncated() || wire_len > payload.len(),
                        kernel_rx_ns: info.rx_ns,
                    };
                    n += 1;
                } else if res == -libc::ENOBUFS {
                    ctx.stats.enobufs += 1;
                } else if res < 0 && res != -libc::ECANCELED {
                    failure = Some(-res);
                }
            }
        }
        if let Some(errno) = failure {
            if errno == libc::EINVAL && !received_any {
                return Err(Error::UringUnavailable(
                    "multishot recvmsg refused (EINVAL): kernel without IORING_RECV_MULTISHOT"
                        .into(),
                ));
            }
            return Err(Error::Recv {
                socket: ctx.socket,
                call: "io_uring recvmsg",
                source: io::Error::from_raw_os_error(errno),
            });
        }
        let mut go = true;
        if n > 0 {
            received_any = true;
            let mut batch = Batch::new(br.arena(), &metas[..n], rx_ns, ctx.socket);
            batch.kernel_drops = ctx.stats.kernel_drops;
            go = ctx.deliver(&batch);
        }
        br.recycle(&bids);
        bids.clear();
        if !go {
            return Ok(());
        }
        if rearm {
            ctx.stats.rearms += 1;
            arm(&mut ring).map_err(uring_err(ctx.socket, "io_uring submit"))?;
        }
        if n == 0 {
            let go = if timed_out || ctx.cfg.spin { ctx.idle() } else { ctx.keep_going(rx_ns) };
            if !go {
                return Ok(());
            }
        }
    }
}
