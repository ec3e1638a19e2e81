//! io_uring multishot receive over a provided-buffer ring, in two variants.
//!
//! One multishot request stays armed on the socket; every datagram completes as one CQE whose
//! buffer (picked by the kernel from the ring) holds it:
//! - [`Op::RecvMsg`] (`IORING_OP_RECVMSG`, method `uring`): the buffer starts with an
//!   `io_uring_recvmsg_out` header, the source address (with `source_addresses`) and the
//!   control messages (GRO segment size, timestamps, SO_RXQ_OVFL drops, when any is on), then
//!   the payload;
//! - [`Op::Recv`] (`IORING_OP_RECV`, method `uring-recv`): the buffer holds the payload only. No
//!   source address (every datagram reports `0.0.0.0:0`, so flows are told apart by the probe
//!   header alone), no control messages (no GRO, no kernel timestamps, drops only from
//!   /proc/net/udp at the end).
//!
//! The loop hands each drained group of CQEs to the handler as one batch made of one slice per
//! buffer those CQEs took off the ring (never a view of the whole region, which the kernel keeps
//! writing), then gives the buffers back by advancing the ring tail once, after the handler
//! returned and the slices are gone. A CQE without the MORE flag (e.g. ENOBUFS when the ring ran
//! dry) ends the request, which is then re-armed.
//!
//! With a busy-poll time, the ring registers NAPI busy polling (`IORING_REGISTER_NAPI`, Linux
//! 6.9+) so the wait in `io_uring_enter` polls the device queue; a kernel that refuses is
//! reported (see [`napi_probe`]) and the run goes on without it.

use std::io;

use crate::clock::{Clock, now_ns};
use io_uring::{IoUring, cqueue, opcode, types};

use crate::batch::{Batch, RecvMeta};
use crate::error::Error;
use crate::method::{Counters, LoopConfig};
use crate::sys::bufring::{BufRing, Mmap};
use crate::sys::cmsg::{self, NAME_LEN};

/// Which multishot receive request the loop arms.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Op {
    /// `IORING_OP_RECVMSG`: source address and control messages per datagram.
    RecvMsg,
    /// `IORING_OP_RECV`: payload only.
    Recv,
}

const BGID: u16 = 0;
const RECV_TAG: u64 = 1;
const CANCEL_TAG: u64 = 2;
/// Size of `struct io_uring_recvmsg_out` that starts every buffer.
const OUT_HDR: usize = 16;
/// Most buffers one ring may hold (kernel limit).
pub(crate) const MAX_RING_BUFFERS: usize = 32768;

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
    unsafe { ring.submitter().register_buf_ring_with_flags(mem.addr(), 1, BGID, 0) }
        .map_err(|e| format!("provided buffer ring (IORING_REGISTER_PBUF_RING) refused: {e}"))?;
    let _ = ring.submitter().unregister_buf_ring(BGID);
    drop(ring);
    let (_, mode) = build_ring(64, defer).map_err(|e| setup_reason(&e))?;
    Ok(mode)
}

/// Registers NAPI busy polling of `busy_poll_us` µs (prefer busy poll) on `ring`.
fn register_napi(ring: &IoUring, busy_poll_us: u32) -> io::Result<()> {
    let mut napi =
        types::Napi::new().set_busy_poll_timeout(busy_poll_us).set_prefer_busy_poll(true);
    ring.submitter().register_napi(&mut napi)
}

/// Whether this kernel takes NAPI busy polling on an io_uring: `Ok` with what was registered, or
/// `Err` with the refusal and what happens instead.
pub(crate) fn napi_probe(busy_poll_us: u32) -> Result<String, String> {
    let ring = IoUring::new(8).map_err(|e| setup_reason(&e))?;
    match register_napi(&ring, busy_poll_us) {
        Ok(()) => Ok(format!(
            "IORING_REGISTER_NAPI busy_poll_to={busy_poll_us}us prefer_busy_poll (dynamic tracking)"
        )),
        Err(e) => Err(napi_refusal(&e)),
    }
}

fn napi_refusal(e: &io::Error) -> String {
    let why = match e.raw_os_error() {
        Some(libc::EINVAL) => "EINVAL: kernel without IORING_REGISTER_NAPI (needs 6.9)".to_string(),
        _ => e.to_string(),
    };
    format!(
        "NAPI busy polling refused ({why}); the socket keeps SO_BUSY_POLL but io_uring waits do not busy-poll"
    )
}

/// A multishot receive armed on one socket, with its ring and provided buffers.
///
/// Fields drop in declaration order: the views (plain slices) first, then the ring (which
/// drops the buffer-ring registration and every request), then the buffers and the `msghdr`
/// the requests referred to.
pub(crate) struct Uring {
    /// One slice per buffer of the batch last handed out. Filled from buffers whose CQEs were
    /// received and cleared before those buffers go back on the ring (`recycle`), so no slice
    /// ever covers memory the kernel may write. `'static` stands for "until cleared": a batch
    /// borrows them only through `&mut self`, which ends before the next call clears them.
    views: Vec<&'static [u8]>,
    ring: IoUring,
    br: BufRing,
    msghdr: Box<libc::msghdr>,
    sqe: io_uring::squeue::Entry,
    op: Op,
    mode: RingMode,
    metas: Vec<RecvMeta>,
    /// Buffers of the last batch (and of failed completions), given back at the next call.
    bids: Vec<u16>,
    /// The request ended (a CQE without MORE): re-armed at the next call, after the buffers
    /// went back.
    rearm: bool,
    received_any: bool,
    buf_len: usize,
    payload_off: usize,
    buffer_size: usize,
    ts: types::Timespec,
}

impl Drop for Uring {
    /// Cancels the multishot request and waits (at most ~100 ms) for its last completion, so
    /// that nothing in the ring refers to the socket any more when the socket closes right
    /// after: without this the ring's asynchronous teardown kept the port bound for a few
    /// milliseconds after the receiver was dropped, and an immediate re-bind failed.
    fn drop(&mut self) {
        let cancel = opcode::AsyncCancel::new(RECV_TAG).build().user_data(CANCEL_TAG);
        // SAFETY: a cancel request refers to no memory.
        if unsafe { self.ring.submission().push(&cancel) }.is_err() {
            return;
        }
        let ts = types::Timespec::from(std::time::Duration::from_millis(10));
        let (mut cancel_done, mut recv_done) = (false, self.rearm);
        for _ in 0..10 {
            let args = types::SubmitArgs::new().timespec(&ts);
            match self.ring.submitter().submit_with_args(1, &args) {
                Ok(_) => {}
                Err(e) if matches!(e.raw_os_error(), Some(libc::ETIME) | Some(libc::EINTR)) => {}
                // EEXIST (another thread than a SINGLE_ISSUER ring's) or worse: leave it to
                // the kernel's teardown.
                Err(_) => return,
            }
            for cqe in self.ring.completion() {
                match cqe.user_data() {
                    CANCEL_TAG => cancel_done = true,
                    RECV_TAG if !cqueue::more(cqe.flags()) => recv_done = true,
                    _ => {}
                }
            }
            if cancel_done && recv_done {
                return;
            }
        }
    }
}

// SAFETY: every raw pointer in a `Uring` refers to memory it owns alone and that moves with it:
// the boxed `msghdr` (a template: null pointers, only lengths set), the mapped buffer ring
// (`BufRing`) and the `views` slices into it. Nothing is shared with another thread. The ring
// itself may be entered from any thread, except that a ring set up with SINGLE_ISSUER
// (DEFER_TASKRUN) is refused by the kernel (EEXIST, reported as such) when entered from a
// thread other than its creator: an error, not a memory hazard.
unsafe impl Send for Uring {}

/// Why a uring receive failed: the system call, and whether it means io_uring is unusable.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Failure {
    pub call: &'static str,
    /// The first multishot request was refused with EINVAL (kernel without it).
    pub unsupported: bool,
}

impl Uring {
    /// Creates the ring (on the calling thread, which must be the one that receives: with
    /// SINGLE_ISSUER only it may submit), registers the buffers and arms the request.
    pub(crate) fn new(
        fd: std::os::fd::RawFd,
        cfg: &LoopConfig,
        op: Op,
        counters: &mut Counters,
    ) -> Result<Uring, Error> {
        let count = cfg.ring_buffers;
        // SAFETY: all-zero is a valid msghdr; boxed so its address stays put for every request
        // that refers to it; only the name and control lengths matter here.
        let mut msghdr: Box<libc::msghdr> = Box::new(unsafe { std::mem::zeroed() });
        // No name or control area where the receiver wants neither source addresses nor
        // control messages: the kernel then writes only the header before the payload.
        let control_len = if cfg.cmsg { cfg.control_len() } else { 0 };
        let name_len = if cfg.names { NAME_LEN } else { 0 };
        msghdr.msg_namelen = name_len as libc::socklen_t;
        msghdr.msg_controllen = control_len as _;
        // Offset of the payload in each ring buffer: header, name, control data.
        let payload_off = match op {
            Op::RecvMsg => OUT_HDR + name_len + control_len,
            Op::Recv => 0,
        };
        let buf_len = payload_off + cfg.buffer_size;
        let stride = buf_len.next_multiple_of(64);
        let setup_err = |what: &str, e: io::Error| Error::UringUnavailable(format!("{what}: {e}"));
        let br = BufRing::new(count, stride, buf_len).map_err(|e| setup_err("mmap", e))?;
        // Every CQE but error ones consumes a buffer, so twice the buffers can never overflow.
        let cq = (2 * count).clamp(256, 2 * MAX_RING_BUFFERS) as u32;
        let (ring, mode) = build_ring(cq, cfg.uring_defer)
            .map_err(|e| Error::UringUnavailable(setup_reason(&e)))?;
        // SAFETY: `br.entries` is page-aligned, holds `count` entries and outlives the ring (the
        // ring is dropped first, which also drops the registration).
        unsafe {
            ring.submitter().register_buf_ring_with_flags(br.entries_addr(), br.count(), BGID, 0)
        }
        .map_err(|e| setup_err("provided buffer ring registration refused", e))?;
        if let Some(us) = cfg.napi_busy_poll {
            // A refusal was reported when the receiver was built (`napi_probe`); run without it.
            counters.napi = register_napi(&ring, us).is_ok();
        }
        // MSG_TRUNC: recvmsg's `io_uring_recvmsg_out` header then carries the datagram's real
        // length in `payloadlen` (and MSG_TRUNC in its flags); recv's result is the real length.
        // Fault injection (tests): MSG_WAITALL makes the kernel refuse the multishot request
        // with EINVAL, as a kernel without multishot receive does, taking no datagram.
        let flags =
            libc::MSG_TRUNC | if cfg.inject_multishot_einval { libc::MSG_WAITALL } else { 0 };
        let sqe = match op {
            Op::RecvMsg => {
                opcode::RecvMsgMulti::new(types::Fd(fd), &*msghdr, BGID).flags(flags as u32).build()
            }
            Op::Recv => opcode::RecvMulti::new(types::Fd(fd), BGID).flags(flags).build(),
        }
        .user_data(RECV_TAG);
        let mut u = Uring {
            views: Vec::with_capacity(cq as usize),
            ring,
            br,
            msghdr,
            sqe,
            op,
            mode,
            metas: vec![RecvMeta::EMPTY; cq as usize],
            bids: Vec::with_capacity(cq as usize),
            rearm: false,
            received_any: false,
            buf_len,
            payload_off,
            buffer_size: cfg.buffer_size,
            ts: types::Timespec::from(std::time::Duration::from_nanos(cfg.idle_ns)),
        };
        u.arm().map_err(|e| setup_err("io_uring submit", e))?;
        // Submitted now, not at the first receive call: an application that waits for
        // readiness before its first call must find the request armed, or a ring without
        // DEFER_TASKRUN (readiness = the ring's descriptor) never becomes readable.
        u.ring.submit().map_err(|e| setup_err("io_uring submit", e))?;
        Ok(u)
    }

    /// The ring's file descriptor.
    pub(crate) fn ring_fd(&self) -> std::os::fd::BorrowedFd<'_> {
        use std::os::fd::AsRawFd;
        // SAFETY: the ring owns this descriptor and keeps it open as long as `self` lives,
        // which bounds the returned borrow.
        unsafe { std::os::fd::BorrowedFd::borrow_raw(self.ring.as_raw_fd()) }
    }

    /// The setup flags the kernel accepted.
    pub(crate) fn mode(&self) -> RingMode {
        self.mode
    }

    fn arm(&mut self) -> io::Result<()> {
        // SAFETY: the SQE refers to the boxed `msghdr` and the registered buffer group, which
        // both live until the ring is dropped (fields drop in order: ring first).
        if unsafe { self.ring.submission().push(&self.sqe) }.is_err() {
            self.ring.submit()?;
            // SAFETY: as above.
            unsafe { self.ring.submission().push(&self.sqe) }
                .map_err(|_| io::Error::other("submission queue full"))?;
        }
        Ok(())
    }

    /// Gives the last batch's buffers back and re-arms an ended request.
    fn give_back(&mut self, counters: &mut Counters) -> io::Result<()> {
        // The slices go before their buffers go back to the kernel.
        self.views.clear();
        self.br.recycle(&self.bids);
        self.bids.clear();
        if self.rearm {
            self.rearm = false;
            counters.rearms += 1;
            self.arm()?;
        }
        Ok(())
    }

    /// Waits (unless `nonblocking`) and returns the datagrams of the completions that arrived;
    /// `WouldBlock` when none did (at once when `nonblocking`, after the idle interval
    /// otherwise). On an error other than `WouldBlock`, `failure` says where it came from.
    #[inline]
    pub(crate) fn recv(
        &mut self,
        socket: usize,
        nonblocking: bool,
        counters: &mut Counters,
        failure: &mut Failure,
    ) -> io::Result<Batch<'_>> {
        *failure = Failure { call: "io_uring submit", unsupported: false };
        self.give_back(counters)?;
        loop {
            let waited = if nonblocking {
                self.ring.submit()
            } else {
                let args = types::SubmitArgs::new().timespec(&self.ts);
                self.ring.submitter().submit_with_args(1, &args)
            };
            let mut timed_out = false;
            if let Err(e) = waited {
                match e.raw_os_error() {
                    Some(libc::ETIME) | Some(libc::EINTR) | Some(libc::EBUSY)
                    | Some(libc::EAGAIN) => timed_out = true,
                    Some(libc::EEXIST) if self.mode == RingMode::Deferred => {
                        failure.call = "io_uring_enter";
                        return Err(io::Error::other(
                            "io_uring_enter: EEXIST: this ring (SINGLE_ISSUER + DEFER_TASKRUN) \
                             accepts calls from the thread that created the receiver only; build \
                             with `uring_defer_taskrun(false)` for a receiver that moves between \
                             threads",
                        ));
                    }
                    _ => {
                        failure.call = "io_uring_enter";
                        return Err(e);
                    }
                }
            }
            let rx_ns = now_ns(Clock::Monotonic);
            let mut errno: Option<i32> = None;
            debug_assert!(self.views.is_empty());
            for cqe in self.ring.completion() {
                let flags = cqe.flags();
                if !cqueue::more(flags) {
                    self.rearm = true;
                }
                let res = cqe.result();
                if let Some(bid) = cqueue::buffer_select(flags) {
                    self.bids.push(bid);
                    if res < 0 || self.views.len() >= self.metas.len() {
                        continue;
                    }
                    let meta = match self.op {
                        Op::RecvMsg => {
                            // SAFETY: this CQE took `bid` off the ring; `views` (the only place
                            // the slice is kept) is cleared before `bids` is recycled and before
                            // the ring is dropped. Only the bytes offered to the kernel
                            // (`buf_len`), so a cut payload never reaches into the stride's
                            // padding.
                            let Some(buf) = (unsafe { self.br.buffer(bid, self.buf_len) }) else {
                                continue;
                            };
                            let Ok(out) = types::RecvMsgOut::parse(buf, &self.msghdr) else {
                                continue;
                            };
                            let info = cmsg::parse(out.control_data());
                            if info.drops.is_some() {
                                counters.kernel_drops = info.drops;
                            }
                            // The payload sits at payload_off (fixed name and control lengths);
                            // sliced from `buf` so it keeps the buffer's lifetime.
                            let plen = out.payload_data().len();
                            let off = self.payload_off;
                            let Some(payload) = buf.get(off..off + plen) else { continue };
                            self.views.push(payload);
                            let wire_len = out.incoming_payload_len() as usize;
                            RecvMeta {
                                offset: 0,
                                len: payload.len(),
                                wire_len,
                                source: cmsg::sockaddr(out.name_data())
                                    .unwrap_or(RecvMeta::EMPTY.source),
                                segment_size: info.segment_size,
                                truncated: out.is_payload_truncated() || wire_len > payload.len(),
                                kernel_rx_ns: info.rx_ns,
                                dst_ip: info.dst_ip,
                                ifindex: info.ifindex,
                                ecn: info.ecn,
                            }
                        }
                        Op::Recv => {
                            let len = (res as usize).min(self.buffer_size);
                            // SAFETY: as above.
                            let Some(payload) = (unsafe { self.br.buffer(bid, len) }) else {
                                continue;
                            };
                            self.views.push(payload);
                            // Plain recv records only ever differ from EMPTY in their lengths:
                            // write those in place.
                            let m = &mut self.metas[self.views.len() - 1];
                            m.len = payload.len();
                            m.wire_len = res as usize;
                            m.truncated = res as usize > self.buffer_size;
                            continue;
                        }
                    };
                    self.metas[self.views.len() - 1] = meta;
                } else if res == 0 && self.op == Op::Recv && self.views.len() < self.metas.len() {
                    // A zero-length datagram: plain recv completes with 0 bytes and takes no
                    // buffer (the kernel recycles it). It is a datagram all the same.
                    self.views.push(&[]);
                    self.metas[self.views.len() - 1] =
                        RecvMeta { len: 0, wire_len: 0, ..RecvMeta::EMPTY };
                } else if res == -libc::ENOBUFS {
                    counters.enobufs += 1;
                } else if res < 0 && res != -libc::ECANCELED {
                    errno = Some(-res);
                }
            }
            let n = self.views.len();
            if let Some(errno) = errno {
                failure.unsupported = errno == libc::EINVAL && !self.received_any;
                failure.call =
                    if self.op == Op::Recv { "io_uring recv" } else { "io_uring recvmsg" };
                return Err(io::Error::from_raw_os_error(errno));
            }
            if n > 0 {
                self.received_any = true;
                let mut batch = Batch::from_buffers(&self.views, &self.metas[..n], rx_ns, socket);
                batch.kernel_drops = counters.kernel_drops;
                return Ok(batch);
            }
            // Nothing for the caller: give back what failed completions took, re-arm if needed.
            self.give_back(counters)?;
            if timed_out || nonblocking {
                return Err(io::ErrorKind::WouldBlock.into());
            }
        }
    }
}
