//! The probe header that `udpflood` stamps on every datagram and `udprx` reads back.
//!
//! An 18-byte UDP payload makes a 64-byte Ethernet frame (14 + 20 + 8 + 18 + 4 FCS), the minimum
//! on the wire, so the whole header fits in the smallest flood packet. All fields are big-endian.
//! Version 2, written by this crate:
//!
//! | bytes   | field         | meaning                                                      |
//! |---------|---------------|--------------------------------------------------------------|
//! | 0..2    | magic         | [`MAGIC`], marks our datagrams (foreign ones are counted)    |
//! | 2       | version/flags | high nibble: [`VERSION`]; low nibble: flags ([`FLAG_REALTIME`]) |
//! | 3       | flow          | sender flow index                                            |
//! | 4..10   | seq           | 48-bit per-flow sequence number                              |
//! | 10..12  | sender        | sender id: keeps several senders' flows apart without the source address |
//! | 12..18  | tx_ns         | low 48 bits of the send time in ns of the clock named by the flags |
//!
//! Version 1 (read, never written) had no sender id and a 64-bit `tx_ns` in bytes 10..18; it
//! parses as sender 0 with the low 48 bits of its stamp. A 48-bit stamp wraps every 2^48 ns
//! (78 hours): the receiver completes it with its own clock reading ([`tx_ns_near`]), which is
//! exact while the one-way delay plus the clock offset stays within ±39 hours.
//!
//! Larger payloads carry the same header followed by padding.
//!
//! The module follows smoltcp's `wire` style: [`Packet`] is a view over a byte buffer with
//! checked length and field accessors, [`Repr`] is the parsed, owned form with
//! [`Repr::parse`] and [`Repr::emit`].
#![deny(missing_docs)]

pub mod clock;
pub mod text;

pub use clock::{Clock, now_ns, process_cpu_ns, thread_cpu_ns};

use core::fmt;

/// Length of the header in bytes, and the smallest payload `udpflood` sends.
pub const HEADER_LEN: usize = 18;
/// Magic number in bytes 0..2 ("U" "P").
pub const MAGIC: u16 = 0x5550;
/// Format version written, carried in the high nibble of byte 2.
pub const VERSION: u8 = 2;
/// The older format version that is still read (no sender id, 64-bit `tx_ns`).
pub const VERSION_1: u8 = 1;
/// Flag bit (low nibble of byte 2): `tx_ns` was read from `CLOCK_REALTIME`, not `CLOCK_MONOTONIC`.
pub const FLAG_REALTIME: u8 = 0x1;
/// Largest sequence number; sequences wrap to 0 after it.
pub const SEQ_MAX: u64 = (1 << 48) - 1;
/// Mask of the 48 bits of `tx_ns` that version 2 carries.
pub const TX_MASK: u64 = (1 << 48) - 1;

/// Whether byte 2 of a datagram (version/flags) names a version this build reads.
#[inline]
pub const fn version_is_known(version_flags: u8) -> bool {
    let v = version_flags >> 4;
    v == VERSION || v == VERSION_1
}

/// Completes a 48-bit send stamp with a `reference` reading of the same clock (the receive
/// time): the 64-bit time nearest to `reference` whose low 48 bits are `tx48`. Exact while the
/// true stamp lies within ±2^47 ns (39 hours) of the reference.
#[inline]
pub const fn tx_ns_near(tx48: u64, reference: u64) -> u64 {
    let back = reference.wrapping_sub(tx48) & TX_MASK;
    if back >= 1 << 47 {
        // The stamp is ahead of the reference (clock offset, or a forged stamp).
        reference.wrapping_add((1 << 48) - back)
    } else {
        reference.wrapping_sub(back)
    }
}

mod field {
    use core::ops::Range;
    pub const MAGIC: Range<usize> = 0..2;
    pub const VERSION_FLAGS: usize = 2;
    pub const FLOW: usize = 3;
    pub const SEQ: Range<usize> = 4..10;
    pub const SENDER: Range<usize> = 10..12;
    pub const TX_NS: Range<usize> = 12..18;
    pub const TX_NS_V1: Range<usize> = 10..18;
}

/// Why a buffer is not a valid probe header.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Error {
    /// The buffer is shorter than [`HEADER_LEN`]; holds the actual length.
    Truncated(usize),
    /// The first two bytes are not [`MAGIC`]: a foreign datagram.
    BadMagic(u16),
    /// The magic matches but the version is one this build does not read.
    BadVersion(u8),
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Error::Truncated(len) => {
                write!(
                    f,
                    "datagram of {len} bytes is shorter than the {HEADER_LEN}-byte probe header"
                )
            }
            Error::BadMagic(m) => {
                write!(f, "foreign datagram (magic {m:#06x}, expected {MAGIC:#06x})")
            }
            Error::BadVersion(v) => {
                write!(f, "probe header version {v}, this build reads {VERSION}")
            }
        }
    }
}

impl std::error::Error for Error {}

/// A read/write view of a probe header at the start of a buffer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Packet<T: AsRef<[u8]>> {
    buffer: T,
}

impl<T: AsRef<[u8]>> Packet<T> {
    /// Wraps a buffer without checking anything; accessors panic if it is too short.
    pub const fn new_unchecked(buffer: T) -> Packet<T> {
        Packet { buffer }
    }

    /// Wraps a buffer after [`Packet::check_len`]; the accessors then never panic.
    pub fn new_checked(buffer: T) -> Result<Packet<T>, Error> {
        let packet = Packet::new_unchecked(buffer);
        packet.check_len()?;
        Ok(packet)
    }

    /// Checks that the buffer holds a whole header.
    pub fn check_len(&self) -> Result<(), Error> {
        let len = self.buffer.as_ref().len();
        if len < HEADER_LEN { Err(Error::Truncated(len)) } else { Ok(()) }
    }

    /// Returns the wrapped buffer.
    pub fn into_inner(self) -> T {
        self.buffer
    }

    /// The magic field.
    pub fn magic(&self) -> u16 {
        let b = &self.buffer.as_ref()[field::MAGIC];
        u16::from_be_bytes([b[0], b[1]])
    }

    /// The format version (high nibble of byte 2).
    pub fn version(&self) -> u8 {
        self.buffer.as_ref()[field::VERSION_FLAGS] >> 4
    }

    /// The flags (low nibble of byte 2).
    pub fn flags(&self) -> u8 {
        self.buffer.as_ref()[field::VERSION_FLAGS] & 0x0f
    }

    /// The sender's flow index.
    pub fn flow(&self) -> u8 {
        self.buffer.as_ref()[field::FLOW]
    }

    /// The 48-bit sequence number.
    pub fn seq(&self) -> u64 {
        let b = &self.buffer.as_ref()[field::SEQ];
        let mut x = [0u8; 8];
        x[2..].copy_from_slice(b);
        u64::from_be_bytes(x)
    }

    /// The sender id (version 2; a version 1 header has none: 0).
    pub fn sender(&self) -> u16 {
        if self.version() == VERSION_1 {
            return 0;
        }
        let b = &self.buffer.as_ref()[field::SENDER];
        u16::from_be_bytes([b[0], b[1]])
    }

    /// The low 48 bits of the send time in nanoseconds (see [`tx_ns_near`]).
    pub fn tx_ns(&self) -> u64 {
        let b = self.buffer.as_ref();
        let mut x = [0u8; 8];
        if self.version() == VERSION_1 {
            x.copy_from_slice(&b[field::TX_NS_V1]);
        } else {
            x[2..].copy_from_slice(&b[field::TX_NS]);
        }
        u64::from_be_bytes(x) & TX_MASK
    }
}

impl<T: AsRef<[u8]> + AsMut<[u8]>> Packet<T> {
    /// Sets the magic field.
    pub fn set_magic(&mut self, value: u16) {
        self.buffer.as_mut()[field::MAGIC].copy_from_slice(&value.to_be_bytes());
    }

    /// Sets version (high nibble) and flags (low nibble).
    pub fn set_version_flags(&mut self, version: u8, flags: u8) {
        self.buffer.as_mut()[field::VERSION_FLAGS] = (version << 4) | (flags & 0x0f);
    }

    /// Sets the flow index.
    pub fn set_flow(&mut self, value: u8) {
        self.buffer.as_mut()[field::FLOW] = value;
    }

    /// Sets the sequence number; bits above 48 are dropped (the sequence wraps).
    pub fn set_seq(&mut self, value: u64) {
        let b = (value & SEQ_MAX).to_be_bytes();
        self.buffer.as_mut()[field::SEQ].copy_from_slice(&b[2..]);
    }

    /// Sets the sender id (version 2 layout).
    pub fn set_sender(&mut self, value: u16) {
        self.buffer.as_mut()[field::SENDER].copy_from_slice(&value.to_be_bytes());
    }

    /// Sets the send time in nanoseconds; only the low 48 bits are written (version 2 layout).
    pub fn set_tx_ns(&mut self, value: u64) {
        let b = (value & TX_MASK).to_be_bytes();
        self.buffer.as_mut()[field::TX_NS].copy_from_slice(&b[2..]);
    }
}

/// A parsed probe header.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Repr {
    /// Sender flow index.
    pub flow: u8,
    /// 48-bit per-flow sequence number.
    pub seq: u64,
    /// Sender id: tells flows of several senders apart (0 in a version 1 header).
    pub sender: u16,
    /// Low 48 bits of the send time in nanoseconds of `clock` (parsed values never have more;
    /// [`Repr::emit`] drops the rest). Complete it with [`tx_ns_near`].
    pub tx_ns: u64,
    /// Which clock stamped `tx_ns`.
    pub clock: Clock,
}

impl Repr {
    /// Parses a header, checking length, magic and version.
    pub fn parse<T: AsRef<[u8]>>(packet: &Packet<T>) -> Result<Repr, Error> {
        packet.check_len()?;
        let magic = packet.magic();
        if magic != MAGIC {
            return Err(Error::BadMagic(magic));
        }
        let version = packet.version();
        if version != VERSION && version != VERSION_1 {
            return Err(Error::BadVersion(version));
        }
        let clock =
            if packet.flags() & FLAG_REALTIME != 0 { Clock::Realtime } else { Clock::Monotonic };
        Ok(Repr {
            flow: packet.flow(),
            seq: packet.seq(),
            sender: packet.sender(),
            tx_ns: packet.tx_ns(),
            clock,
        })
    }

    /// Parses the header at the start of a datagram payload.
    pub fn from_bytes(payload: &[u8]) -> Result<Repr, Error> {
        Repr::parse(&Packet::new_unchecked(payload))
    }

    /// Writes the header into the first [`HEADER_LEN`] bytes of the packet's buffer.
    ///
    /// Panics if the buffer is shorter than [`HEADER_LEN`]; wrap it with [`Packet::new_checked`].
    pub fn emit<T: AsRef<[u8]> + AsMut<[u8]>>(&self, packet: &mut Packet<T>) {
        packet.set_magic(MAGIC);
        let flags = match self.clock {
            Clock::Monotonic => 0,
            Clock::Realtime => FLAG_REALTIME,
        };
        packet.set_version_flags(VERSION, flags);
        packet.set_flow(self.flow);
        packet.set_seq(self.seq);
        packet.set_sender(self.sender);
        packet.set_tx_ns(self.tx_ns);
    }

    /// Writes the header into the start of `buf`, checking its length first.
    pub fn emit_into(&self, buf: &mut [u8]) -> Result<(), Error> {
        let mut packet = Packet::new_checked(buf)?;
        self.emit(&mut packet);
        Ok(())
    }
}

/// The next sequence number after `seq`, wrapping at [`SEQ_MAX`].
#[inline]
pub const fn seq_next(seq: u64) -> u64 {
    (seq + 1) & SEQ_MAX
}

/// Signed distance from `from` to `to` in the 48-bit sequence space (`to - from`, in
/// `-2^47 .. 2^47`), so that a wrap from [`SEQ_MAX`] to 0 is a step of +1.
#[inline]
pub const fn seq_diff(to: u64, from: u64) -> i64 {
    let d = to.wrapping_sub(from) & SEQ_MAX;
    if d >= 1 << 47 { d as i64 - (1 << 48) } else { d as i64 }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn sample() -> Repr {
        Repr {
            flow: 7,
            seq: 0x0102_0304_0506,
            sender: 0xBEEF,
            tx_ns: 0x3344_5566_7788,
            clock: Clock::Monotonic,
        }
    }

    #[test]
    fn round_trip() {
        let mut buf = [0u8; HEADER_LEN];
        sample().emit_into(&mut buf).unwrap();
        assert_eq!(Repr::from_bytes(&buf), Ok(sample()));
        let rt = Repr { clock: Clock::Realtime, ..sample() };
        rt.emit_into(&mut buf).unwrap();
        assert_eq!(Repr::from_bytes(&buf), Ok(rt));
    }

    #[test]
    fn wire_layout_is_big_endian() {
        let mut buf = [0u8; HEADER_LEN];
        sample().emit_into(&mut buf).unwrap();
        assert_eq!(
            buf,
            [0x55, 0x50, 0x20, 7, 1, 2, 3, 4, 5, 6, 0xBE, 0xEF, 0x33, 0x44, 0x55, 0x66, 0x77, 0x88]
        );
    }

    #[test]
    fn version_1_reads_as_sender_0_with_48_bits_of_its_stamp() {
        let v1 =
            [0x55, 0x50, 0x11, 7, 1, 2, 3, 4, 5, 6, 0x11, 0x22, 0x33, 0x44, 0x55, 0x66, 0x77, 0x88];
        let r = Repr::from_bytes(&v1).unwrap();
        assert_eq!((r.flow, r.seq, r.sender), (7, 0x0102_0304_0506, 0));
        assert_eq!((r.tx_ns, r.clock), (0x3344_5566_7788, Clock::Realtime));
        assert!(version_is_known(0x11) && version_is_known(0x20) && !version_is_known(0x30));
    }

    #[test]
    fn stamps_are_completed_with_the_nearest_reference() {
        let t = 0x0123_4567_89AB_CDEF_u64;
        let tx48 = t & TX_MASK;
        // Received later, earlier (clock offset), and across a 2^48 boundary.
        assert_eq!(tx_ns_near(tx48, t + 5_000_000), t);
        assert_eq!(tx_ns_near(tx48, t - 7_000), t);
        let edge = (3u64 << 48) - 10;
        assert_eq!(tx_ns_near(edge & TX_MASK, edge + 100), edge);
        assert_eq!(tx_ns_near((edge + 100) & TX_MASK, edge), edge + 100);
        // Near zero: no underflow into a huge value.
        assert_eq!(tx_ns_near(5, 3), 5);
        assert_eq!(tx_ns_near(TX_MASK, 3), 3u64.wrapping_sub(4));
    }

    #[test]
    fn padding_after_header_is_ignored() {
        let mut buf = [0xAAu8; 1472];
        sample().emit_into(&mut buf).unwrap();
        assert_eq!(Repr::from_bytes(&buf), Ok(sample()));
    }

    #[test]
    fn every_truncated_length_is_refused() {
        let mut buf = [0u8; HEADER_LEN];
        sample().emit_into(&mut buf).unwrap();
        for len in 0..HEADER_LEN {
            assert_eq!(Repr::from_bytes(&buf[..len]), Err(Error::Truncated(len)));
            assert!(Packet::new_checked(&buf[..len]).is_err());
        }
        let mut short = [0u8; 10];
        assert_eq!(sample().emit_into(&mut short), Err(Error::Truncated(10)));
    }

    #[test]
    fn wrong_magic_is_foreign() {
        let mut buf = [0u8; HEADER_LEN];
        sample().emit_into(&mut buf).unwrap();
        buf[0] = 0x00;
        assert_eq!(Repr::from_bytes(&buf), Err(Error::BadMagic(0x0050)));
    }

    #[test]
    fn wrong_version_is_refused() {
        let mut buf = [0u8; HEADER_LEN];
        sample().emit_into(&mut buf).unwrap();
        buf[2] = 0x30;
        assert_eq!(Repr::from_bytes(&buf), Err(Error::BadVersion(3)));
    }

    #[test]
    fn seq_is_48_bits_and_wraps() {
        let mut buf = [0u8; HEADER_LEN];
        let r = Repr { seq: SEQ_MAX, ..sample() };
        r.emit_into(&mut buf).unwrap();
        assert_eq!(Repr::from_bytes(&buf).unwrap().seq, SEQ_MAX);
        // Bits above 48 are dropped, not spilled into the flow byte.
        let r = Repr { seq: SEQ_MAX + 1 + 5, ..sample() };
        r.emit_into(&mut buf).unwrap();
        let back = Repr::from_bytes(&buf).unwrap();
        assert_eq!((back.seq, back.flow), (5, 7));
        assert_eq!(seq_next(SEQ_MAX), 0);
        assert_eq!(seq_diff(0, SEQ_MAX), 1);
        assert_eq!(seq_diff(SEQ_MAX, 0), -1);
        assert_eq!(seq_diff(10, 3), 7);
        assert_eq!(seq_diff(3, 10), -7);
    }

    proptest! {
        #[test]
        fn parsing_arbitrary_bytes_never_panics(bytes in proptest::collection::vec(any::<u8>(), 0..64)) {
            let _ = Repr::from_bytes(&bytes);
            if let Ok(p) = Packet::new_checked(&bytes[..]) {
                let _ = (p.magic(), p.version(), p.flags(), p.flow(), p.seq(), p.sender(), p.tx_ns());
            }
        }

        #[test]
        fn emit_parse_round_trips(flow: u8, seq in 0..=SEQ_MAX, sender: u16, tx_ns in 0..=TX_MASK, realtime: bool) {
            let clock = if realtime { Clock::Realtime } else { Clock::Monotonic };
            let r = Repr { flow, seq, sender, tx_ns, clock };
            let mut buf = [0u8; HEADER_LEN];
            r.emit_into(&mut buf).unwrap();
            prop_assert_eq!(Repr::from_bytes(&buf), Ok(r));
        }
    }
}
