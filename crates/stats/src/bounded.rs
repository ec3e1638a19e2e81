//! Reading a file someone else may have written, with a size cap: the one helper every reader of
//! outside files (reports, settings files, token files, crash journals) goes through, so that
//! `/dev/zero`, a FIFO or a huge file is refused with a one-line error instead of filling
//! memory.

use std::fmt;
use std::io::Read as _;
use std::path::Path;

/// Largest settings file (`udprx bench --settings`): 1 MiB, far above any real one.
pub const SETTINGS_MAX_BYTES: u64 = 1 << 20;
/// Largest token file (`--token-file`): 64 KiB; only its first line is the token.
pub const TOKEN_MAX_BYTES: u64 = 64 << 10;
/// Largest crash journal: 1 MiB; a journal holds a few dozen sysctls.
pub const JOURNAL_MAX_BYTES: u64 = 1 << 20;

/// Why a bounded read failed.
#[derive(Debug)]
pub enum ReadError {
    /// Opening or reading failed (or the text is not UTF-8).
    Io(std::io::Error),
    /// The file holds more than `limit` bytes.
    TooLarge {
        /// The cap.
        limit: u64,
    },
}

impl fmt::Display for ReadError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ReadError::Io(e) => write!(f, "{e}"),
            ReadError::TooLarge { limit } => {
                write!(f, "larger than {}, the most this file may hold", human(*limit))
            }
        }
    }
}

impl std::error::Error for ReadError {}

fn human(bytes: u64) -> String {
    if bytes >= 1 << 20 && bytes.is_multiple_of(1 << 20) {
        format!("{} MiB", bytes >> 20)
    } else if bytes >= 1 << 10 && bytes.is_multiple_of(1 << 10) {
        format!("{} KiB", bytes >> 10)
    } else {
        format!("{bytes} bytes")
    }
}

/// The text of `path`, refused when it holds more than `limit` bytes. Never reads more than
/// `limit + 1` bytes: a FIFO or `/dev/zero` has no size to check beforehand.
pub fn read_to_string(path: &Path, limit: u64) -> Result<String, ReadError> {
    let file = std::fs::File::open(path).map_err(ReadError::Io)?;
    if file.metadata().map_err(ReadError::Io)?.len() > limit {
        return Err(ReadError::TooLarge { limit });
    }
    let mut text = String::new();
    file.take(limit.saturating_add(1)).read_to_string(&mut text).map_err(ReadError::Io)?;
    if text.len() as u64 > limit {
        return Err(ReadError::TooLarge { limit });
    }
    Ok(text)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_up_to_the_cap_and_refuses_beyond() {
        let d = std::env::temp_dir().join(format!("udprx-bounded-{}", std::process::id()));
        std::fs::create_dir_all(&d).unwrap();
        let f = d.join("f");
        std::fs::write(&f, "abcd").unwrap();
        assert_eq!(read_to_string(&f, 4).unwrap(), "abcd");
        let e = read_to_string(&f, 3).unwrap_err();
        assert!(matches!(e, ReadError::TooLarge { limit: 3 }), "{e:?}");
        assert_eq!(e.to_string(), "larger than 3 bytes, the most this file may hold");
        // No size to check: the cap still holds.
        let e = read_to_string(Path::new("/dev/zero"), 1 << 20).unwrap_err();
        assert_eq!(e.to_string(), "larger than 1 MiB, the most this file may hold");
        assert!(matches!(read_to_string(&d.join("none"), 9), Err(ReadError::Io(_))));
        std::fs::write(&f, [0xff, 0xfe]).unwrap();
        assert!(matches!(read_to_string(&f, 9), Err(ReadError::Io(_))));
        std::fs::remove_dir_all(&d).unwrap();
    }
}
