//! What a receive loop hands to its handler: a zero-copy batch of datagrams.
//!
//! A batch describes each datagram where the receive method left it. Most methods fill a slice
//! of [`RecvMeta`] records that locate each datagram in one contiguous arena the method owns
//! and reuses (the `recvmmsg` buffers with control messages) or in one slice per record (the
//! io_uring provided buffers this batch took off the ring, and only those: the rest of the ring
//! may be written by the kernel meanwhile). A `recvmmsg` call without control messages needs
//! no record at all: the batch reads each length and flag straight from the call's headers. A
//! [`Batch`] borrows all this for the duration of one handler call, so handing it over
//! allocates and copies nothing.

use std::net::{IpAddr, SocketAddr};

use crate::sys::recv::MmsgView;

/// Where one received datagram sits in the arena, and what the kernel said about it (plumbing
/// for [`Batch::new`]; applications read the same fields from [`Datagram`]).
#[doc(hidden)]
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RecvMeta {
    /// Offset of the payload in the batch's arena ([`Batch::new`]), or in the record's own
    /// buffer ([`Batch::from_buffers`]).
    pub offset: usize,
    /// Payload bytes actually stored (at most the buffer size).
    pub len: usize,
    /// The datagram's real length on the wire: `len`, or more when it was cut (MSG_TRUNC).
    /// Every method asks the kernel for it (MSG_TRUNC in the receive flags); a value below
    /// `len` is read as `len`.
    pub wire_len: usize,
    /// Sender address.
    pub source: SocketAddr,
    /// With UDP_GRO: the size of each coalesced segment (the last one may be shorter);
    /// 0 when the buffer holds one datagram.
    pub segment_size: u16,
    /// The datagram was larger than the buffer and was cut (MSG_TRUNC).
    pub truncated: bool,
    /// Kernel receive time (SO_TIMESTAMPNS, CLOCK_REALTIME ns), when enabled.
    pub kernel_rx_ns: Option<u64>,
    /// The address the datagram was sent to (IP_PKTINFO / IPV6_PKTINFO), with
    /// [`ReceiverBuilder::pktinfo`](crate::ReceiverBuilder::pktinfo); `None` when off.
    pub dst_ip: Option<IpAddr>,
    /// The index of the interface it arrived on, with `pktinfo`; `None` when off.
    pub ifindex: Option<u32>,
    /// The two ECN bits of its IP header (0 Not-ECT, 1 ECT(1), 2 ECT(0), 3 CE), with
    /// [`ReceiverBuilder::ecn`](crate::ReceiverBuilder::ecn); `None` when off.
    pub ecn: Option<u8>,
}

impl RecvMeta {
    /// A placeholder used to pre-size metadata vectors.
    pub const EMPTY: RecvMeta = RecvMeta {
        offset: 0,
        len: 0,
        wire_len: 0,
        source: SocketAddr::V4(std::net::SocketAddrV4::new(std::net::Ipv4Addr::UNSPECIFIED, 0)),
        segment_size: 0,
        truncated: false,
        kernel_rx_ns: None,
        dst_ip: None,
        ifindex: None,
        ecn: None,
    };
}

/// One received buffer: a datagram, or with UDP_GRO several same-flow datagrams coalesced.
#[derive(Debug, Clone, Copy)]
pub struct Datagram<'a> {
    /// The payload as received (all segments, back to back, when coalesced).
    pub payload: &'a [u8],
    /// Length on the wire, at least `payload.len()`; more only when `truncated` (the bytes the
    /// buffer could not hold belong to the last segment).
    pub wire_len: usize,
    /// Sender address.
    pub source: SocketAddr,
    /// Segment size when the kernel coalesced datagrams (UDP_GRO); 0 otherwise.
    pub segment_size: u16,
    /// The datagram was cut because it did not fit the buffer.
    pub truncated: bool,
    /// Kernel receive time (CLOCK_REALTIME ns) when timestamps are on.
    pub kernel_rx_ns: Option<u64>,
    /// The address the datagram was sent to, with `pktinfo(true)` (see [`RecvMeta::dst_ip`]).
    pub dst_ip: Option<IpAddr>,
    /// The interface it arrived on, with `pktinfo(true)`.
    pub ifindex: Option<u32>,
    /// The two ECN bits, with `ecn(true)` (0 Not-ECT, 1 ECT(1), 2 ECT(0), 3 CE).
    pub ecn: Option<u8>,
}

impl<'a> Datagram<'a> {
    /// Number of datagrams this buffer stands for (1 unless coalesced by GRO).
    #[inline]
    pub fn segment_count(&self) -> usize {
        if self.segment_size == 0 || self.payload.is_empty() {
            1
        } else {
            self.payload.len().div_ceil(self.segment_size as usize)
        }
    }

    /// The individual datagrams: the segments of a coalesced buffer, or the payload itself.
    #[inline]
    pub fn segments(&self) -> std::slice::Chunks<'a, u8> {
        let size =
            if self.segment_size == 0 { self.payload.len() } else { self.segment_size as usize };
        // `chunks` refuses 0; an empty payload yields one empty chunk below instead.
        self.payload.chunks(size.max(1))
    }
}

/// Where a batch's datagrams are described.
#[derive(Debug, Clone, Copy)]
enum Records<'a> {
    /// Records locating each payload in one arena.
    Arena(&'a [u8], &'a [RecvMeta]),
    /// Record `i` locates its payload in buffer `i`.
    Buffers(&'a [&'a [u8]], &'a [RecvMeta]),
    /// The `recvmmsg` headers themselves (no control messages): lengths and flags are read
    /// in place, so handing the batch over writes nothing per datagram.
    Headers(MmsgView<'a>),
}

/// A batch of received datagrams from one socket, valid for one handler call.
#[derive(Debug, Clone, Copy)]
pub struct Batch<'a> {
    records: Records<'a>,
    /// `CLOCK_MONOTONIC` ns read once when the batch was received.
    pub rx_ns: u64,
    /// Index of the socket (and thread) that received it.
    pub socket: usize,
    /// The socket's cumulative kernel drop count (SO_RXQ_OVFL) as last reported, if known.
    pub kernel_drops: Option<u32>,
}

impl<'a> Batch<'a> {
    /// Builds a batch over a method's arena and metadata (plumbing for the receive loops and
    /// this workspace's tests; not part of the stable API).
    ///
    /// Panics (in debug builds) if a record points outside the arena.
    #[doc(hidden)]
    #[inline]
    pub fn new(arena: &'a [u8], metas: &'a [RecvMeta], rx_ns: u64, socket: usize) -> Batch<'a> {
        debug_assert!(metas.iter().all(|m| m.offset + m.len <= arena.len()));
        Batch { records: Records::Arena(arena, metas), rx_ns, socket, kernel_drops: None }
    }

    /// Builds a batch whose record `i` locates its payload in `buffers[i]` (the offset counts
    /// from the start of that buffer), for methods whose buffers are not one region a batch
    /// may borrow as a whole.
    ///
    /// Panics (in debug builds) if there are fewer buffers than records or a record points
    /// outside its buffer.
    #[doc(hidden)]
    #[inline]
    pub fn from_buffers(
        buffers: &'a [&'a [u8]],
        metas: &'a [RecvMeta],
        rx_ns: u64,
        socket: usize,
    ) -> Batch<'a> {
        debug_assert!(buffers.len() >= metas.len());
        debug_assert!(metas.iter().zip(buffers).all(|(m, b)| m.offset + m.len <= b.len()));
        Batch { records: Records::Buffers(buffers, metas), rx_ns, socket, kernel_drops: None }
    }

    /// A batch read straight from the headers of one `recvmmsg` call.
    #[inline]
    pub(crate) fn from_headers(view: MmsgView<'a>, rx_ns: u64, socket: usize) -> Batch<'a> {
        Batch { records: Records::Headers(view), rx_ns, socket, kernel_drops: None }
    }

    /// Number of buffers in the batch (a GRO buffer counts once; see [`Batch::datagram_count`]).
    #[inline]
    pub fn len(&self) -> usize {
        match self.records {
            Records::Arena(_, metas) | Records::Buffers(_, metas) => metas.len(),
            Records::Headers(view) => view.len(),
        }
    }

    /// True when the batch holds nothing.
    #[inline]
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// The `i`-th buffer.
    #[inline]
    pub fn get(&self, i: usize) -> Option<Datagram<'a>> {
        (i < self.len()).then(|| Self::view_at(self.records, i))
    }

    /// Iterates over the buffers.
    #[inline]
    pub fn iter(&self) -> impl ExactSizeIterator<Item = Datagram<'a>> + 'a {
        let records = self.records;
        (0..self.len()).map(move |i| Self::view_at(records, i))
    }

    /// Total datagrams, counting each GRO segment.
    pub fn datagram_count(&self) -> usize {
        self.iter().map(|d| d.segment_count()).sum()
    }

    /// Datagram `i` (`i < len()`).
    #[inline]
    fn view_at(records: Records<'a>, i: usize) -> Datagram<'a> {
        let (arena, m) = match records {
            Records::Headers(view) => return view.datagram(i),
            Records::Arena(a, metas) => (a, &metas[i]),
            Records::Buffers(b, metas) => (b.get(i).copied().unwrap_or(&[]), &metas[i]),
        };
        let end = (m.offset + m.len).min(arena.len());
        let start = m.offset.min(end);
        let payload = &arena[start..end];
        Datagram {
            payload,
            wire_len: m.wire_len.max(payload.len()),
            source: m.source,
            segment_size: m.segment_size,
            truncated: m.truncated,
            kernel_rx_ns: m.kernel_rx_ns,
            dst_ip: m.dst_ip,
            ifindex: m.ifindex,
            ecn: m.ecn,
        }
    }
}

/// What a handler tells the receive loop after a batch.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Flow {
    /// Keep receiving.
    Continue,
    /// Stop this thread's loop and, through the run's stop flag, every other thread too.
    Stop,
}

/// Per-thread consumer of received batches.
///
/// A receive run creates one handler per socket thread through a factory, calls
/// [`Handler::on_batch`] for every batch and [`Handler::on_idle`] when a receive wait times out
/// without data (at least every few hundred milliseconds), and gives the handlers back when the
/// run ends so their results can be merged.
pub trait Handler: Send {
    /// Called for every batch; must not block.
    fn on_batch(&mut self, batch: &Batch<'_>) -> Flow;

    /// Called when no data arrived for a while; `now_ns` is `CLOCK_MONOTONIC`.
    fn on_idle(&mut self, now_ns: u64) -> Flow {
        let _ = now_ns;
        Flow::Continue
    }

    /// Called instead of [`Handler::on_batch`] by paths that count datagrams without handing
    /// them over (`--method xdp-drop`: the XDP program counts and drops them): `datagrams` were
    /// received, carrying `bytes` of payload, since the last call. The default ignores them.
    fn on_counted(&mut self, datagrams: u64, bytes: u64, now_ns: u64) -> Flow {
        let _ = (datagrams, bytes);
        self.on_idle(now_ns)
    }
}

impl<F: FnMut(&Batch<'_>) -> Flow + Send> Handler for F {
    fn on_batch(&mut self, batch: &Batch<'_>) -> Flow {
        self(batch)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn meta(offset: usize, len: usize, seg: u16) -> RecvMeta {
        RecvMeta { offset, len, segment_size: seg, ..RecvMeta::EMPTY }
    }

    #[test]
    fn batch_views_the_arena() {
        let arena: Vec<u8> = (0..100).collect();
        let metas = [meta(0, 10, 0), meta(50, 36, 18), meta(90, 0, 0)];
        let b = Batch::new(&arena, &metas, 5, 1);
        assert_eq!(b.len(), 3);
        assert_eq!(b.get(0).unwrap().payload, &arena[0..10]);
        let gro = b.get(1).unwrap();
        assert_eq!(gro.segment_count(), 2);
        assert_eq!(gro.segments().map(|s| s.len()).collect::<Vec<_>>(), vec![18, 18]);
        assert_eq!(b.get(2).unwrap().segment_count(), 1);
        assert_eq!(b.datagram_count(), 4);
        assert!(b.get(3).is_none());
    }

    #[test]
    fn batch_views_separate_buffers() {
        let a: Vec<u8> = (0..20).collect();
        let b: Vec<u8> = (100..110).collect();
        let bufs: [&[u8]; 2] = [&a[4..], &b];
        let metas = [meta(2, 5, 0), meta(0, 10, 5)];
        let batch = Batch::from_buffers(&bufs, &metas, 0, 0);
        assert_eq!(batch.get(0).unwrap().payload, &a[6..11]);
        assert_eq!(batch.iter().nth(1).unwrap().payload, &b[..]);
        assert_eq!(batch.datagram_count(), 3);
        assert!(batch.get(2).is_none());
    }

    #[test]
    fn short_last_segment_counts() {
        let arena = [0u8; 40];
        let metas = [meta(0, 40, 18)];
        let b = Batch::new(&arena, &metas, 0, 0);
        let d = b.get(0).unwrap();
        assert_eq!(d.segment_count(), 3);
        assert_eq!(d.segments().last().unwrap().len(), 4);
    }
}
