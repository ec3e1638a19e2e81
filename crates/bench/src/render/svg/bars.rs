//! SVG charts (plotters): per scenario the livelock plot (received against offered, drawn by
//! [`crate::render::svg::livelock`]) and the peak received rate per path with its 95% interval; the
//! NDR per path with its search bracket; latency percentiles per path at the common paced rate.
//! Bar charts are horizontal, one bar per path, labelled inside the plot.

use super::err;
use crate::model::report::BenchReport;
use crate::{Latency, Result};
use plotters::prelude::*;
use std::path::Path;

/// One horizontal bar: label, value, optional whisker range.
#[derive(Debug, Clone, PartialEq)]
pub struct Bar {
    /// Path label.
    pub label: String,
    /// Bar length.
    pub value: f64,
    /// Whisker (min, max).
    pub range: Option<(f64, f64)>,
}

const PALETTE: [RGBColor; 4] = [
    RGBColor(0x44, 0x77, 0xaa),
    RGBColor(0x66, 0xcc, 0xee),
    RGBColor(0xcc, 0xbb, 0x44),
    RGBColor(0xee, 0x66, 0x77),
];

/// A chart written next to the report.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ChartFile {
    /// File name inside the output directory.
    pub file: String,
    /// What it shows.
    pub title: String,
}

/// Height of one bar's row, in pixels.
const ROW_PX: u32 = 36;
/// Label font size, in pixels.
const FONT_PX: u32 = 13;

/// Where a row's parts sit, as fractions of the row from its bottom: the bar (and the whisker
/// on its middle) in the lower band, the label below `text_top` in the upper band.
struct RowLayout {
    bar: (f64, f64),
    tick: (f64, f64),
    text_top: f64,
}

const ROW: RowLayout = RowLayout { bar: (0.08, 0.50), tick: (0.16, 0.42), text_top: 0.96 };

/// Draws a horizontal bar chart into `file`.
pub fn bars(file: &Path, title: &str, x_desc: &str, bars: &[Bar]) -> Result<()> {
    let n = bars.len().max(1);
    let height = ((n as u32) * ROW_PX + 110).max(220);
    let root = SVGBackend::new(file, (900, height)).into_drawing_area();
    root.fill(&WHITE).map_err(|e| err(file, e))?;
    let max = bars
        .iter()
        .map(|b| b.range.map(|r| r.1).unwrap_or(0.0).max(b.value))
        .fold(0.0, f64::max)
        .max(1.0)
        * 1.05;
    let mut chart = ChartBuilder::on(&root)
        .caption(title, ("sans-serif", 18))
        .margin(12)
        .x_label_area_size(40)
        .y_label_area_size(10)
        .build_cartesian_2d(0f64..max, 0f64..n as f64)
        .map_err(|e| err(file, e))?;
    chart
        .configure_mesh()
        .disable_y_mesh()
        .disable_y_axis()
        .label_style(("sans-serif", 12))
        .axis_desc_style(("sans-serif", 13))
        .x_desc(x_desc)
        .x_label_formatter(&|v| crate::text::kpps(*v))
        .draw()
        .map_err(|e| err(file, e))?;
    let r = ROW;
    for (i, b) in bars.iter().enumerate() {
        // Top row first.
        let y = (n - 1 - i) as f64;
        let color = PALETTE[i % 2];
        chart
            .draw_series(std::iter::once(Rectangle::new(
                [(0.0, y + r.bar.0), (b.value.max(0.0), y + r.bar.1)],
                color.mix(0.8).filled(),
            )))
            .map_err(|e| err(file, e))?;
        if let Some((lo, hi)) = b.range {
            let mid = y + (r.bar.0 + r.bar.1) / 2.0;
            let whisker = vec![
                PathElement::new(vec![(lo, mid), (hi, mid)], BLACK.stroke_width(2)),
                PathElement::new(
                    vec![(lo, y + r.tick.0), (lo, y + r.tick.1)],
                    BLACK.stroke_width(2),
                ),
                PathElement::new(
                    vec![(hi, y + r.tick.0), (hi, y + r.tick.1)],
                    BLACK.stroke_width(2),
                ),
            ];
            chart.draw_series(whisker).map_err(|e| err(file, e))?;
        }
        // The label sits in its own band above the bar (anchored at its top-left), so it
        // never crosses the bar or its whisker, whatever their lengths.
        let text = match b.range {
            Some((lo, hi)) => format!(
                "{}  {}  [{}, {}]",
                b.label,
                crate::text::kpps(b.value),
                crate::text::kpps(lo),
                crate::text::kpps(hi)
            ),
            None => format!("{}  {}", b.label, crate::text::kpps(b.value)),
        };
        chart
            .draw_series(std::iter::once(Text::new(
                text,
                (0.0, y + r.text_top),
                ("sans-serif", FONT_PX as i32).into_font().color(&BLACK),
            )))
            .map_err(|e| err(file, e))?;
    }
    root.present().map_err(|e| err(file, e))?;
    Ok(())
}

/// Draws latency percentiles per path (log scale) into `file`.
pub fn latency(file: &Path, title: &str, rows: &[(String, Latency)]) -> Result<()> {
    let n = rows.len().max(1);
    let height = ((n as u32) * 24 + 130).max(240);
    let root = SVGBackend::new(file, (900, height)).into_drawing_area();
    root.fill(&WHITE).map_err(|e| err(file, e))?;
    let max = rows.iter().map(|(_, l)| l.max.max(l.p999)).max().unwrap_or(1).max(1000) as f64 * 6.0;
    let min =
        rows.iter().map(|(_, l)| l.p50).filter(|v| *v > 0).min().unwrap_or(100).max(1) as f64 / 1.5;
    let mut chart = ChartBuilder::on(&root)
        .caption(title, ("sans-serif", 18))
        .margin(12)
        .x_label_area_size(40)
        .y_label_area_size(10)
        .build_cartesian_2d((min.min(max / 10.0)..max).log_scale(), 0f64..n as f64)
        .map_err(|e| err(file, e))?;
    chart
        .configure_mesh()
        .disable_y_mesh()
        .disable_y_axis()
        .label_style(("sans-serif", 12))
        .axis_desc_style(("sans-serif", 13))
        .x_desc("one-way latency (log scale)")
        .x_label_formatter(&|v| udprx_stats::units::fmt_ns(*v as u64))
        .draw()
        .map_err(|e| err(file, e))?;
    let names = ["p50", "p90", "p99", "p99.9"];
    for (k, name) in names.iter().enumerate() {
        let color = PALETTE[k];
        let pts: Vec<(f64, f64)> = rows
            .iter()
            .enumerate()
            .map(|(i, (_, l))| {
                let v = [l.p50, l.p90, l.p99, l.p999][k].max(1) as f64;
                (v, (n - 1 - i) as f64 + 0.5)
            })
            .collect();
        chart
            .draw_series(pts.into_iter().map(|p| Circle::new(p, 5, color.filled())))
            .map_err(|e| err(file, e))?
            .label(*name)
            .legend(move |(x, y)| Circle::new((x, y), 5, color.filled()));
    }
    for (i, (label, l)) in rows.iter().enumerate() {
        let y = (n - 1 - i) as f64;
        chart
            .draw_series(std::iter::once(PathElement::new(
                vec![(l.p50.max(1) as f64, y + 0.5), (l.max.max(1) as f64, y + 0.5)],
                BLACK.mix(0.3).stroke_width(1),
            )))
            .map_err(|e| err(file, e))?;
        chart
            .draw_series(std::iter::once(Text::new(
                label.clone(),
                (min.min(max / 10.0) * 1.05, y + 0.9),
                ("sans-serif", 12).into_font().color(&BLACK),
            )))
            .map_err(|e| err(file, e))?;
    }
    chart
        .configure_series_labels()
        .position(SeriesLabelPosition::UpperRight)
        .background_style(WHITE.mix(0.8))
        .border_style(BLACK)
        .draw()
        .map_err(|e| err(file, e))?;
    root.present().map_err(|e| err(file, e))?;
    Ok(())
}

/// Writes every chart the report has data for; returns them for the Markdown report.
pub fn write_all(report: &BenchReport, dir: &Path) -> Result<Vec<ChartFile>> {
    use crate::render::svg::livelock::{self as ll, Curve, CurvePoint};
    let mut out = Vec::new();
    let multi = report.settings.len() > 1;
    let name_of = |setting: usize, label: &str| {
        if multi {
            format!(
                "[{}] {label}",
                report.settings.get(setting).map(|s| s.name.as_str()).unwrap_or("?")
            )
        } else {
            label.to_string()
        }
    };
    let series = &report.curves.series;
    for scenario in crate::Scenario::ALL {
        let members: Vec<_> = series
            .iter()
            .filter(|s| s.row.scenario == scenario && s.figures.peak.is_some())
            .collect();
        if members.is_empty() {
            continue;
        }
        // The livelock plot: received against offered, every point with its 95% interval.
        let curves: Vec<Curve> = members
            .iter()
            .map(|s| Curve {
                label: name_of(s.setting, &s.label),
                points: s
                    .points
                    .iter()
                    .filter(|p| p.n() > 0)
                    .map(|p| {
                        // Inside physics: no error bar above y = x.
                        let i = crate::stats::interval::bounded(&p.rx(), Some(p.offered()));
                        CurvePoint {
                            offered: p.offered(),
                            received: p.rx_median(),
                            interval: i.and_then(|i| Some((i.lo?, i.hi?))),
                            unpaced: p.rate.is_none(),
                        }
                    })
                    .collect(),
            })
            .collect();
        let file = format!("livelock-{}.svg", scenario.name());
        ll::draw(
            &dir.join(&file),
            &format!(
                "{} flood: received vs offered ({}{})",
                scenario.name(),
                report.topology.kind.name(),
                if report.topology.rps { ", RPS" } else { "" }
            ),
            &curves,
        )?;
        out.push(ChartFile {
            file,
            title: format!(
                "received vs offered datagrams/s, {} flood (receive livelock plot)",
                scenario.name()
            ),
        });
        // Under it: loss ratio (log) and receive-side CPU against offered.
        let panels: Vec<crate::render::svg::overload::Path3> = members
            .iter()
            .map(|s| (name_of(s.setting, &s.label), crate::analysis::figures::overload_points(s)))
            .collect();
        let file = format!("overload-{}.svg", scenario.name());
        crate::render::svg::overload::draw(
            &dir.join(&file),
            &format!("{} flood: loss ratio and receive-side CPU vs offered", scenario.name()),
            &panels,
        )?;
        out.push(ChartFile {
            file,
            title: format!(
                "loss ratio (log) and receive-side cores busy vs offered datagrams/s, {} flood",
                scenario.name()
            ),
        });
        let pps: Vec<Bar> = members
            .iter()
            .filter_map(|s| {
                let i = s.figures.peak?;
                Some(Bar {
                    label: name_of(s.setting, &s.label),
                    value: i.est,
                    range: i.lo.zip(i.hi),
                })
            })
            .collect();
        let file = format!("pps-{}.svg", scenario.name());
        bars(
            &dir.join(&file),
            &format!(
                "{} flood: peak received datagrams/s per path with 95% interval ({})",
                scenario.name(),
                report.topology.kind.name()
            ),
            "datagrams per second",
            &pps,
        )?;
        out.push(ChartFile {
            file,
            title: format!("peak received pps per path, {} flood", scenario.name()),
        });
        // NDR per path with its bracket, each scenario on its own scale.
        let ndr: Vec<Bar> = series
            .iter()
            .filter(|s| s.row.scenario == scenario)
            .filter_map(|s| {
                let b = s.figures.ndr?;
                Some(Bar {
                    label: name_of(s.setting, &s.label),
                    value: b.lo? as f64,
                    range: b.hi.map(|h| (b.lo.unwrap_or(0) as f64, h as f64)),
                })
            })
            .collect();
        if !ndr.is_empty() {
            let file = format!("ndr-{}.svg", scenario.name());
            bars(
                &dir.join(&file),
                &format!(
                    "{} flood: zero-loss rate (NDR) per path: lower bound, whisker to the lowest failing rate (one search's bracket)",
                    scenario.name()
                ),
                "datagrams per second",
                &ndr,
            )?;
            out.push(ChartFile { file, title: format!("NDR per path, {} flood", scenario.name()) });
        }
    }

    // Latency at the common paced rate (below every knee: not only queueing), or at
    // --latency-at when measured.
    let at_load: Vec<(String, Latency)> = series
        .iter()
        .filter_map(|s| {
            let p = s.latency.as_ref()?;
            let l: Vec<Latency> = p.trials.iter().filter_map(|t| t.usable()?.latency).collect();
            Some((name_of(s.setting, &s.label), *l.first()?))
        })
        .collect();
    let (lat, title) = if !at_load.is_empty() {
        (
            at_load,
            format!(
                "latency percentiles at {:.0}% of each path's NDR",
                report.config.curve.latency_at.unwrap_or(0.0) * 100.0
            ),
        )
    } else {
        (
            series
                .iter()
                .filter_map(|s| Some((name_of(s.setting, &s.label), s.figures.latency?)))
                .collect(),
            "latency percentiles at the common paced rate (medians over repetitions)".to_string(),
        )
    };
    let file = "latency.svg";
    latency(&dir.join(file), &title, &lat)?;
    out.push(ChartFile { file: file.into(), title: "latency percentiles per path".into() });
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn labels_sit_above_bars_and_whiskers() {
        let r = ROW;
        let text_bottom = r.text_top - FONT_PX as f64 / ROW_PX as f64;
        assert!(text_bottom > r.bar.1 && text_bottom > r.tick.1, "label band overlaps the bar");
        assert!(
            r.text_top <= 1.0 && r.bar.0 >= 0.0 && r.tick.0 >= r.bar.0,
            "row parts leave the row"
        );
    }

    #[test]
    fn draws_svgs() {
        let dir = std::env::temp_dir().join(format!("udprx-chart-test-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let b = vec![
            Bar {
                label: "classic recvmmsg 1×".into(),
                value: 400_000.0,
                range: Some((350_000.0, 420_000.0)),
            },
            Bar { label: "classic recvfrom 1×".into(), value: 200_000.0, range: None },
        ];
        bars(&dir.join("b.svg"), "t", "pps", &b).unwrap();
        let svg = std::fs::read_to_string(dir.join("b.svg")).unwrap();
        assert!(svg.contains("<svg") && svg.contains("classic recvmmsg"));
        let l = Latency {
            p50: 5_000,
            p90: 9_000,
            p99: 40_000,
            p999: 90_000,
            max: 200_000,
            ..Latency::default()
        };
        latency(&dir.join("l.svg"), "t", &[("a".into(), l)]).unwrap();
        latency(&dir.join("empty.svg"), "t", &[]).unwrap();
        bars(&dir.join("e.svg"), "t", "pps", &[]).unwrap();
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
