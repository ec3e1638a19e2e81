//! Everything a report concludes, computed once from the measurements: figures, pairwise
//! verdicts, the Answer, the comparison with a baseline run. Reads [`crate::model`] and
//! [`crate::stats`] only; the renderers print what this layer computed.

pub mod answer;
pub mod compare;
pub mod figures;
pub mod sweep;
