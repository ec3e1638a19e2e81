//! Histograms in reports: a few percentiles for people and the exact encoding for merging
//! (HdrHistogram V2 with deflate, base64), which any HdrHistogram implementation can read.

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use hdrhistogram::Histogram;
use hdrhistogram::serialization::{Deserializer, Serializer, V2DeflateSerializer};

use super::{Percentiles, ReportError};

/// A histogram as the report stores it: its percentile set, and the exact encoding.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct HistData {
    /// Count, extremes, mean and percentiles (the JSON keeps them at this level).
    #[serde(flatten)]
    pub summary: Percentiles,
    /// HdrHistogram V2 deflate encoding, base64 (standard alphabet): the exact data, so that
    /// reports can be merged.
    pub encoded: String,
}

impl std::ops::Deref for HistData {
    type Target = Percentiles;
    fn deref(&self) -> &Percentiles {
        &self.summary
    }
}

impl HistData {
    /// Summarises and encodes `h`.
    pub fn from_hist(h: &Histogram<u64>) -> HistData {
        let mut bytes = Vec::new();
        V2DeflateSerializer::new()
            .serialize(h, &mut bytes)
            .expect("serializing into a Vec does not fail");
        HistData { summary: Percentiles::of(h), encoded: STANDARD.encode(bytes) }
    }

    /// Decodes the exact histogram.
    pub fn decode(&self) -> Result<Histogram<u64>, ReportError> {
        let bytes = STANDARD
            .decode(&self.encoded)
            .map_err(|e| ReportError::Histogram(format!("bad base64: {e}")))?;
        Deserializer::new()
            .deserialize(&mut &bytes[..])
            .map_err(|e| ReportError::Histogram(format!("{e:?}")))
    }

    /// Decodes and adds several histograms into one (with `template`'s bounds, auto-resizing).
    pub fn merge<'a>(
        items: impl IntoIterator<Item = &'a HistData>,
    ) -> Result<Option<HistData>, ReportError> {
        let mut acc: Option<Histogram<u64>> = None;
        for d in items {
            let h = d.decode()?;
            match &mut acc {
                None => {
                    let mut a = h;
                    a.auto(true);
                    acc = Some(a);
                }
                Some(a) => a.add(&h).map_err(|e| ReportError::Histogram(format!("{e:?}")))?,
            }
        }
        Ok(acc.map(|h| HistData::from_hist(&h)))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trips_exactly() {
        let mut h = crate::stats::latency::latency_histogram();
        for v in [1u64, 10, 1_000, 123_456, 7_000_000, 59_000_000_000] {
            h.record_n(v, v % 7 + 1).unwrap();
        }
        let d = HistData::from_hist(&h);
        let back = d.decode().unwrap();
        assert_eq!(back, h);
        assert_eq!(d.count, h.len());
        assert_eq!(d.max, h.max());
        let bad = HistData { encoded: "!!!".into(), ..d.clone() };
        assert!(bad.decode().is_err());
        let bad = HistData { encoded: STANDARD.encode(b"not a histogram"), ..d };
        assert!(bad.decode().is_err());
    }
}
