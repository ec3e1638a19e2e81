//! The server's report file: one [`RunRecord`] per run, written atomically.

use std::io::{self, Write};
use std::path::PathBuf;

use serde::Serialize;

use crate::msg::{ReceiverReport, RunRequest, SenderReport};

/// What the server writes to its report file after each run.
#[derive(Debug, Clone, Serialize)]
pub struct RunRecord {
    /// Protocol version.
    pub v: u64,
    /// Run name.
    pub run_id: String,
    /// The request as validated.
    pub request: RunRequest,
    /// UDP data port.
    pub data_port: u16,
    /// Senders' control addresses, in join order.
    pub peers: Vec<String>,
    /// The receiver's report, when the run completed.
    pub receiver: Option<ReceiverReport>,
    /// The senders' reports that arrived.
    pub sender_reports: Vec<SenderReport>,
    /// Why the run failed, if it did.
    pub error: Option<String>,
}

/// Writes `value` as pretty JSON to `path` atomically (temporary file beside it, then rename).
pub fn write_report<T: Serialize>(path: &std::path::Path, value: &T) -> io::Result<()> {
    let json = serde_json::to_vec_pretty(value).map_err(io::Error::other)?;
    let mut tmp = path.as_os_str().to_owned();
    tmp.push(".tmp");
    let tmp = PathBuf::from(tmp);
    {
        let mut f = std::fs::File::create(&tmp)?;
        f.write_all(&json)?;
        f.write_all(b"\n")?;
        f.sync_all()?;
    }
    std::fs::rename(&tmp, path)
}
