//! The report as JSON (schema `udprx-report/1`): writing, reading with a size limit, and the
//! checks a report read from a file must pass.

use std::path::Path;

use super::{MAX_REPORT_BYTES, Report, ReportError, SCHEMA};

impl Report {
    /// Serialises to pretty JSON.
    pub fn to_json(&self) -> String {
        serde_json::to_string_pretty(self).expect("a report always serialises")
    }

    /// Parses a report, checking its schema and that its figures are possible (see
    /// [`ReportError::Implausible`]); `origin` names it in errors.
    pub fn from_json(text: &str, origin: &str) -> Result<Report, ReportError> {
        /// Only the schema, so the text is not parsed into a tree before it is checked.
        #[derive(serde::Deserialize)]
        struct Head {
            schema: Option<serde_json::Value>,
        }
        let json_err = |source| ReportError::Json { path: origin.to_string(), source };
        let head: Head = serde_json::from_str(text).map_err(json_err)?;
        let found = head.schema.as_ref().and_then(|s| s.as_str()).unwrap_or("(none)");
        if found != SCHEMA {
            return Err(ReportError::Schema { path: origin.to_string(), found: found.to_string() });
        }
        let r: Report = serde_json::from_str(text).map_err(json_err)?;
        r.check(origin)?;
        Ok(r)
    }

    /// Refuses figures no run produces: a negative, infinite or NaN elapsed time or interval.
    pub(super) fn check(&self, origin: &str) -> Result<(), ReportError> {
        let bad = |what: &str, v: f64| ReportError::Implausible {
            path: origin.to_string(),
            reason: format!("{what} is {v} (must be a finite number >= 0)"),
        };
        if !(self.elapsed_s.is_finite() && self.elapsed_s >= 0.0) {
            return Err(bad("elapsed_s", self.elapsed_s));
        }
        if !(self.rate.interval_s.is_finite() && self.rate.interval_s >= 0.0) {
            return Err(bad("rate.interval_s", self.rate.interval_s));
        }
        Ok(())
    }

    /// Reads a report file of at most [`MAX_REPORT_BYTES`].
    pub fn read(path: &Path) -> Result<Report, ReportError> {
        use crate::bounded::{ReadError, read_to_string};
        let name = path.display().to_string();
        let text = read_to_string(path, MAX_REPORT_BYTES).map_err(|e| match e {
            ReadError::Io(source) => ReportError::Io { path: name.clone(), source },
            ReadError::TooLarge { limit } => ReportError::TooLarge { path: name.clone(), limit },
        })?;
        Report::from_json(&text, &name)
    }

    /// Writes the JSON to `path`.
    pub fn write(&self, path: &Path) -> Result<(), ReportError> {
        std::fs::write(path, self.to_json() + "\n")
            .map_err(|source| ReportError::Io { path: path.display().to_string(), source })
    }
}
