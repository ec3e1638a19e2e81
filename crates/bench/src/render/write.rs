//! Writing a finished run: `report.json` (the [`BenchReport`] model), the charts
//! ([`super::chart`]) and `report.md` ([`super::markdown`], which lists the charts). This module
//! sits above the three so that none of them imports another in a circle: the model knows
//! nothing of its renderings, the charts and the Markdown read the model.

use super::report::BenchReport;
use super::{Error, Result, chart, markdown};
use std::path::{Path, PathBuf};

/// Writes `report.json`, `report.md` and the charts into `dir`; returns the files written.
pub fn write(report: &BenchReport, dir: &Path) -> Result<Vec<PathBuf>> {
    let mut files = Vec::new();
    let json = serde_json::to_string_pretty(report)
        .map_err(|e| Error::io("serializing the report", std::io::Error::other(e)))?;
    let p = dir.join("report.json");
    std::fs::write(&p, json).map_err(|e| Error::io(format!("writing {}", p.display()), e))?;
    files.push(p);
    let charts = chart::write_all(report, dir)?;
    let md = markdown::render(report, &charts);
    let p = dir.join("report.md");
    std::fs::write(&p, md).map_err(|e| Error::io(format!("writing {}", p.display()), e))?;
    files.push(p);
    files.extend(charts.into_iter().map(|c| dir.join(c.file)));
    Ok(files)
}
