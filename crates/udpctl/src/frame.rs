//! Framing: every control message is a 4-byte big-endian length followed by that many bytes.
//!
//! The length is checked against a limit *before* anything is allocated, so a peer that
//! announces 4 GiB costs nothing. Reads go through [`DeadlineReader`] on sockets so that a slow
//! peer (one byte every few seconds) cannot stretch a read beyond its deadline.

use std::io::{self, Read, Write};
use std::net::TcpStream;
use std::time::Instant;

/// Largest message the server reads (requests and sender reports): 64 KiB.
pub const MAX_FRAME: usize = 64 * 1024;

/// Largest message the client reads (the run result, which carries the receiver's full report).
pub const MAX_REPLY_FRAME: usize = 1024 * 1024;

/// Length of the frame header.
pub const LEN_PREFIX: usize = 4;

/// Why a frame could not be read.
#[derive(Debug, thiserror::Error)]
pub enum FrameError {
    /// The peer closed the connection before sending any byte of a frame.
    #[error("connection closed")]
    Closed,
    /// The peer closed the connection in the middle of a frame.
    #[error("truncated frame: expected {expected} bytes, got {got}")]
    Truncated {
        /// Bytes the header (or the length prefix) promised.
        expected: usize,
        /// Bytes that arrived before the end of the stream.
        got: usize,
    },
    /// The length prefix exceeds the limit.
    #[error("frame of {len} bytes exceeds the {max}-byte limit")]
    TooLarge {
        /// Announced length.
        len: u64,
        /// The limit in force.
        max: usize,
    },
    /// A zero-length frame (never valid: every message is a JSON object).
    #[error("empty frame")]
    Empty,
    /// No complete frame before the deadline.
    #[error("timed out waiting for a complete frame")]
    Timeout,
    /// Any other socket error.
    #[error("i/o error: {0}")]
    Io(#[source] io::Error),
}

fn is_timeout(e: &io::Error) -> bool {
    matches!(e.kind(), io::ErrorKind::TimedOut | io::ErrorKind::WouldBlock)
}

/// Reads until `buf` is full; returns how many bytes arrived (less than `buf.len()` only at EOF).
fn fill(r: &mut impl Read, buf: &mut [u8]) -> Result<usize, FrameError> {
    let mut got = 0;
    while got < buf.len() {
        match r.read(&mut buf[got..]) {
            Ok(0) => break,
            Ok(n) => got += n,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            Err(e) if is_timeout(&e) => return Err(FrameError::Timeout),
            Err(e) => return Err(FrameError::Io(e)),
        }
    }
    Ok(got)
}

/// Reads one frame of at most `max` bytes and returns its payload.
///
/// Never allocates more than `max` bytes: the length prefix is checked first.
pub fn read_frame(r: &mut impl Read, max: usize) -> Result<Vec<u8>, FrameError> {
    let mut prefix = [0u8; LEN_PREFIX];
    let got = fill(r, &mut prefix)?;
    if got == 0 {
        return Err(FrameError::Closed);
    }
    if got < LEN_PREFIX {
        return Err(FrameError::Truncated { expected: LEN_PREFIX, got });
    }
    let len = u32::from_be_bytes(prefix) as u64;
    if len == 0 {
        return Err(FrameError::Empty);
    }
    if len > max as u64 {
        return Err(FrameError::TooLarge { len, max });
    }
    let len = len as usize;
    let mut body = vec![0u8; len];
    let got = fill(r, &mut body)?;
    if got < len {
        return Err(FrameError::Truncated { expected: len, got });
    }
    Ok(body)
}

/// Encodes `payload` as one frame (prefix + payload) in a single buffer.
///
/// Returns `None` when the payload does not fit the 32-bit length prefix.
pub fn encode_frame(payload: &[u8]) -> Option<Vec<u8>> {
    let len = u32::try_from(payload.len()).ok()?;
    let mut out = Vec::with_capacity(LEN_PREFIX + payload.len());
    out.extend_from_slice(&len.to_be_bytes());
    out.extend_from_slice(payload);
    Some(out)
}

/// Writes `payload` as one frame with a single `write_all`.
pub fn write_frame(w: &mut impl Write, payload: &[u8]) -> io::Result<()> {
    let frame = encode_frame(payload)
        .ok_or_else(|| io::Error::new(io::ErrorKind::InvalidInput, "frame larger than 4 GiB"))?;
    w.write_all(&frame)?;
    w.flush()
}

/// A [`Read`] over a TCP stream that fails with `TimedOut` once `deadline` has passed.
///
/// Before every read it sets the socket's read timeout to the time left, so the deadline bounds
/// the whole frame, not each `read` call.
#[derive(Debug)]
pub struct DeadlineReader<'a> {
    stream: &'a TcpStream,
    deadline: Instant,
}

impl<'a> DeadlineReader<'a> {
    /// Wraps `stream`; reads fail after `deadline`.
    pub fn new(stream: &'a TcpStream, deadline: Instant) -> Self {
        DeadlineReader { stream, deadline }
    }
}

impl Read for DeadlineReader<'_> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let now = Instant::now();
        if now >= self.deadline {
            return Err(io::Error::new(io::ErrorKind::TimedOut, "deadline passed"));
        }
        self.stream.set_read_timeout(Some(self.deadline - now))?;
        let mut s = self.stream;
        s.read(buf)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Cursor;

    #[test]
    fn round_trip() {
        let mut buf = Vec::new();
        write_frame(&mut buf, b"{\"a\":1}").unwrap();
        assert_eq!(&buf[..4], &[0, 0, 0, 7]);
        let mut r = Cursor::new(buf);
        assert_eq!(read_frame(&mut r, MAX_FRAME).unwrap(), b"{\"a\":1}");
        assert!(matches!(read_frame(&mut r, MAX_FRAME), Err(FrameError::Closed)));
    }

    #[test]
    fn rejects_bad_prefixes() {
        let big = [0xff, 0xff, 0xff, 0xff];
        assert!(matches!(
            read_frame(&mut Cursor::new(big), MAX_FRAME),
            Err(FrameError::TooLarge { len: 0xffff_ffff, .. })
        ));
        let just_over = ((MAX_FRAME + 1) as u32).to_be_bytes();
        assert!(matches!(
            read_frame(&mut Cursor::new(just_over), MAX_FRAME),
            Err(FrameError::TooLarge { .. })
        ));
        assert!(matches!(
            read_frame(&mut Cursor::new([0u8; 4]), MAX_FRAME),
            Err(FrameError::Empty)
        ));
        assert!(matches!(
            read_frame(&mut Cursor::new([0u8, 0]), MAX_FRAME),
            Err(FrameError::Truncated { expected: 4, got: 2 })
        ));
        assert!(matches!(
            read_frame(&mut Cursor::new([0u8, 0, 0, 10, b'{']), MAX_FRAME),
            Err(FrameError::Truncated { expected: 10, got: 1 })
        ));
    }

    #[test]
    fn exactly_the_limit_is_accepted() {
        let mut buf = Vec::new();
        write_frame(&mut buf, &vec![b' '; MAX_FRAME]).unwrap();
        assert_eq!(read_frame(&mut Cursor::new(buf), MAX_FRAME).unwrap().len(), MAX_FRAME);
    }
}
