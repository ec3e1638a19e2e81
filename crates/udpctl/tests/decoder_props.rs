//! Property tests: the frame reader and the message decoder take any bytes without panicking,
//! and never hand out (or allocate) more than the frame limit.

use std::io::{Cursor, Read};

use proptest::prelude::*;
use udpctl::frame::{self, FrameError};
use udpctl::msg::{self, ClientMsg, ServerMsg};

/// A reader that counts bytes handed out, to prove the reader consumes only what it announced.
struct Counting<R> {
    inner: R,
    read: usize,
}

impl<R: Read> Read for Counting<R> {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        let n = self.inner.read(buf)?;
        self.read += n;
        Ok(n)
    }
}

fn json_ish() -> impl Strategy<Value = String> {
    prop_oneof![
        Just(
            r#"{"v":1,"type":"run","request":{"method":"recvmmsg","sockets":1,"duration_ms":500}}"#
                .to_string()
        ),
        Just(r#"{"v":1,"type":"done","sender":{"summary":{"sent":1}}}"#.to_string()),
        Just(r#"{"v":1,"type":"ready","run_id":"x","data_port":5000}"#.to_string()),
        "[\\[\\]{}\":,0-9a-z_ vtruefalsn.-]{0,200}",
    ]
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 2000, ..ProptestConfig::default() })]

    #[test]
    fn decode_never_panics(bytes in proptest::collection::vec(any::<u8>(), 0..4096)) {
        let _ = msg::decode::<ClientMsg>(&bytes);
        let _ = msg::decode::<ServerMsg>(&bytes);
    }

    #[test]
    fn decode_json_like_input_never_panics(s in json_ish(), cut in 0usize..300) {
        let bytes = s.as_bytes();
        let bytes = &bytes[..cut.min(bytes.len())];
        let _ = msg::decode::<ClientMsg>(bytes);
        let _ = msg::decode::<ServerMsg>(bytes);
    }

    #[test]
    fn frame_stream_never_panics_nor_exceeds_the_limit(
        stream in proptest::collection::vec(any::<u8>(), 0..8192),
        max in 1usize..2048,
    ) {
        let mut r = Counting { inner: Cursor::new(&stream), read: 0 };
        // Every call consumes at least one byte or ends the loop, so this terminates.
        for _ in 0..=stream.len() {
            let before = r.read;
            match frame::read_frame(&mut r, max) {
                Ok(payload) => {
                    prop_assert!(!payload.is_empty() && payload.len() <= max);
                    prop_assert!(payload.capacity() <= max, "allocated beyond the limit");
                    prop_assert_eq!(r.read - before, 4 + payload.len());
                    let _ = msg::decode::<ClientMsg>(&payload);
                }
                Err(FrameError::TooLarge { len, max: m }) => {
                    prop_assert!(len > m as u64);
                    prop_assert_eq!(r.read - before, 4, "the body of an oversized frame is not read");
                    break;
                }
                Err(FrameError::Closed) => {
                    prop_assert_eq!(r.read, stream.len());
                    break;
                }
                Err(FrameError::Truncated { expected, got }) => {
                    prop_assert!(got < expected);
                    break;
                }
                Err(FrameError::Empty) => {}
                Err(e) => prop_assert!(false, "unexpected error {e}"),
            }
        }
    }

    #[test]
    fn encoded_frames_round_trip(payload in proptest::collection::vec(any::<u8>(), 1..4096)) {
        let framed = frame::encode_frame(&payload).unwrap();
        let got = frame::read_frame(&mut Cursor::new(framed), frame::MAX_FRAME).unwrap();
        prop_assert_eq!(got, payload);
    }
}
