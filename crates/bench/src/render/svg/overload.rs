//! The panels under each livelock plot: loss ratio against offered rate (log scale) and
//! receive-side CPU (cores busy) against offered rate, so the knee and the overload behaviour
//! are visible where the y = x plot hides them. The points come from
//! [`crate::analysis::figures::overload_points`]; nothing is computed here.

use super::err;
use crate::Result;
use plotters::prelude::*;
use std::path::Path;

/// Loss ratios below this are drawn at it (a zero loss has no place on a log scale).
pub const LOSS_FLOOR: f64 = 1e-6;

const PALETTE: [RGBColor; 4] = [
    RGBColor(0x44, 0x77, 0xaa),
    RGBColor(0x66, 0xcc, 0xee),
    RGBColor(0xcc, 0xbb, 0x44),
    RGBColor(0xee, 0x66, 0x77),
];

/// One path: its label and (offered, loss ratio, busy receive cores) per measured point.
pub type Path3 = (String, Vec<(f64, f64, Option<f64>)>);

/// Draws the two panels into `file`.
pub fn draw(file: &Path, title: &str, paths: &[Path3]) -> Result<()> {
    let finite = |v: &f64| v.is_finite();
    let xmax = paths
        .iter()
        .flat_map(|(_, ps)| ps.iter().map(|p| p.0))
        .filter(finite)
        .fold(0.0, f64::max)
        .max(1_000.0)
        * 1.05;
    let cmax = paths
        .iter()
        .flat_map(|(_, ps)| ps.iter().filter_map(|p| p.2))
        .filter(finite)
        .fold(0.0, f64::max)
        .max(0.1)
        * 1.15;
    let root = SVGBackend::new(file, (860, 640)).into_drawing_area();
    root.fill(&WHITE).map_err(|e| err(file, e))?;
    let root = root.titled(title, ("sans-serif", 18)).map_err(|e| err(file, e))?;
    let (top, bottom) = root.split_vertically(300);

    let mut loss = ChartBuilder::on(&top)
        .margin(12)
        .x_label_area_size(36)
        .y_label_area_size(64)
        .build_cartesian_2d(0f64..xmax, (LOSS_FLOOR..1.0f64).log_scale())
        .map_err(|e| err(file, e))?;
    loss.configure_mesh()
        .label_style(("sans-serif", 12))
        .axis_desc_style(("sans-serif", 13))
        .y_desc(format!("loss ratio (0 drawn at {LOSS_FLOOR:e})"))
        .x_label_formatter(&|v| crate::text::kpps(*v))
        .y_label_formatter(&|v| format!("{v:e}"))
        .draw()
        .map_err(|e| err(file, e))?;
    for (i, (label, ps)) in paths.iter().enumerate() {
        let c = PALETTE[i % PALETTE.len()];
        let pts: Vec<(f64, f64)> = ps
            .iter()
            .filter(|p| p.0.is_finite() && p.1.is_finite())
            .map(|p| (p.0, p.1.clamp(LOSS_FLOOR, 1.0)))
            .collect();
        loss.draw_series(LineSeries::new(pts.clone(), c.stroke_width(2)))
            .map_err(|e| err(file, e))?
            .label(label.as_str())
            .legend(move |(x, y)| PathElement::new(vec![(x, y), (x + 20, y)], c.stroke_width(2)));
        loss.draw_series(pts.iter().map(|&p| Circle::new(p, 3, c.filled())))
            .map_err(|e| err(file, e))?;
    }
    loss.configure_series_labels()
        .position(SeriesLabelPosition::UpperLeft)
        .background_style(WHITE.mix(0.85))
        .border_style(BLACK.mix(0.3))
        .label_font(("sans-serif", 12))
        .draw()
        .map_err(|e| err(file, e))?;

    let mut cpu = ChartBuilder::on(&bottom)
        .margin(12)
        .x_label_area_size(40)
        .y_label_area_size(64)
        .build_cartesian_2d(0f64..xmax, 0f64..cmax)
        .map_err(|e| err(file, e))?;
    cpu.configure_mesh()
        .label_style(("sans-serif", 12))
        .axis_desc_style(("sans-serif", 13))
        .x_desc("offered datagrams/s")
        .y_desc("receive-side cores busy")
        .x_label_formatter(&|v| crate::text::kpps(*v))
        .draw()
        .map_err(|e| err(file, e))?;
    for (i, (_, ps)) in paths.iter().enumerate() {
        let c = PALETTE[i % PALETTE.len()];
        let pts: Vec<(f64, f64)> = ps
            .iter()
            .filter_map(|p| Some((p.0, p.2?)))
            .filter(|p| p.0.is_finite() && p.1.is_finite())
            .collect();
        cpu.draw_series(LineSeries::new(pts.clone(), c.stroke_width(2)))
            .map_err(|e| err(file, e))?;
        cpu.draw_series(pts.iter().map(|&p| Circle::new(p, 3, c.filled())))
            .map_err(|e| err(file, e))?;
    }
    root.present().map_err(|e| err(file, e))?;
    Ok(())
}
