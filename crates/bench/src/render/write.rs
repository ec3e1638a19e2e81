//! Writing a finished run: `report.json` (the [`BenchReport`] model), the charts
//! ([`crate::render::svg::bars`]) and `report.md` ([`crate::render::markdown`], which lists the charts). This module
//! sits above the three so that none of them imports another in a circle: the model knows
//! nothing of its renderings, the charts and the Markdown read the model.

use crate::model::report::BenchReport;
use crate::render::markdown;
use crate::render::svg::bars;
use crate::{Error, Result};
use std::path::{Path, PathBuf};

/// Writes `report.json`, `report.md` and the charts into `dir`; returns the files written.
pub fn write(report: &BenchReport, dir: &Path) -> Result<Vec<PathBuf>> {
    let mut files = Vec::new();
    let json = serde_json::to_string_pretty(report)
        .map_err(|e| Error::io("serializing the report", std::io::Error::other(e)))?;
    let p = dir.join("report.json");
    std::fs::write(&p, json).map_err(|e| Error::io(format!("writing {}", p.display()), e))?;
    files.push(p);
    let mut charts = bars::write_all(report, dir)?;
    if let Some(sw) = &report.fanout_sweep {
        let file = "fanout-sweep.svg";
        crate::render::svg::fanout::draw(&dir.join(file), sw)?;
        charts.push(bars::ChartFile {
            file: file.into(),
            title: "Fan-out sweep: aggregate peak against sockets".into(),
        });
    }
    let md = markdown::render(report, &charts);
    let p = dir.join("report.md");
    std::fs::write(&p, md).map_err(|e| Error::io(format!("writing {}", p.display()), e))?;
    files.push(p);
    files.extend(charts.into_iter().map(|c| dir.join(c.file)));
    Ok(files)
}
