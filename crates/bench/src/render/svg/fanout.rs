//! `fanout-sweep.svg`: the fan-out sweep as one chart — aggregate peak received rate against
//! the socket count, one line per one-socket path and steering (hash, by-CPU) with the 95%
//! interval as whiskers, and the ideal N · rate(1) as a thin grey line. Socket counts the host
//! could not run are shaded and named under the plot, so a host with few cores shows what it
//! measured and what it could not. Everything drawn is in the report's `fanout_sweep`
//! ([`crate::analysis::sweep`] computed it); nothing is computed here but the axes.

use super::err;
use crate::model::sweep::FanoutSweep;
use crate::{Fanout, Result};
use plotters::prelude::*;
use std::path::Path;

const PALETTE: [RGBColor; 4] = [
    RGBColor(0x44, 0x77, 0xaa),
    RGBColor(0xee, 0x66, 0x77),
    RGBColor(0x22, 0x88, 0x33),
    RGBColor(0xcc, 0xbb, 0x44),
];

/// The lines under the plot: what was not measured, and why.
pub fn caveats(sw: &FanoutSweep) -> Vec<String> {
    let mut out: Vec<String> = sw.not_measurable.iter().map(|n| n.reason.clone()).collect();
    if sw.counts.len() < 2 {
        out.push(format!(
            "only {} socket count(s) fit this host ({} receive core(s) besides the sender's): no \
             scaling is measured; the grey line is the ideal N·rate(1), not a measurement",
            sw.counts.len(),
            sw.receive_cores
        ));
    }
    if let Some(e) = &sw.error {
        out.push(format!("the sweep stopped: {e}"));
    }
    out
}

/// Draws the chart into `file`.
pub fn draw(file: &Path, sw: &FanoutSweep) -> Result<()> {
    let top = sw
        .counts
        .iter()
        .chain(sw.not_measurable.iter().map(|n| &n.sockets))
        .copied()
        .max()
        .unwrap_or(1)
        .max(2);
    let ymax = sw
        .points
        .iter()
        .flat_map(|p| [p.peak.map(|i| i.hi.unwrap_or(i.est)), p.ideal_peak])
        .flatten()
        .filter(|v| v.is_finite())
        .fold(0.0, f64::max)
        .max(1_000.0)
        * 1.1;
    let notes = caveats(sw);
    let height = 520 + 18 * notes.len() as u32;
    let root = SVGBackend::new(file, (900, height)).into_drawing_area();
    root.fill(&WHITE).map_err(|e| err(file, e))?;
    let (plot, foot) = root.split_vertically(500);
    let mut chart = ChartBuilder::on(&plot)
        .caption("Fan-out sweep: aggregate peak received rate against sockets", ("sans-serif", 18))
        .margin(14)
        .x_label_area_size(40)
        .y_label_area_size(70)
        .build_cartesian_2d(0.5f64..top as f64 + 0.5, 0f64..ymax)
        .map_err(|e| err(file, e))?;
    chart
        .configure_mesh()
        .label_style(("sans-serif", 12))
        .axis_desc_style(("sans-serif", 13))
        .x_desc("receive sockets (one pinned thread and core each)")
        .y_desc("aggregate peak received datagrams/s")
        .x_labels(top + 1)
        .x_label_formatter(&|v| {
            if (v - v.round()).abs() < 1e-9 && *v >= 1.0 {
                format!("{}", v.round())
            } else {
                String::new()
            }
        })
        .y_label_formatter(&|v| crate::text::kpps(*v))
        .draw()
        .map_err(|e| err(file, e))?;
    // Counts the host could not run: shaded.
    for n in &sw.not_measurable {
        let x = n.sockets as f64;
        chart
            .draw_series(std::iter::once(Rectangle::new(
                [(x - 0.4, 0.0), (x + 0.4, ymax)],
                RGBColor(0xdd, 0xdd, 0xdd).mix(0.6).filled(),
            )))
            .map_err(|e| err(file, e))?;
        chart
            .draw_series(std::iter::once(Text::new(
                "not measurable here",
                (x - 0.35, ymax * 0.95),
                ("sans-serif", 12),
            )))
            .map_err(|e| err(file, e))?;
    }
    // One baseline path at a time: its ideal line, then its hash and by-CPU lines.
    let mut bases: Vec<&str> = Vec::new();
    for p in &sw.points {
        if !bases.contains(&p.base.as_str()) {
            bases.push(&p.base);
        }
    }
    let mut ci = 0;
    for base in bases {
        let one = sw.points.iter().find(|p| p.base == base && p.sockets == 1);
        if let Some(rate1) = one.and_then(|p| p.peak).map(|i| i.est) {
            let ideal: Vec<(f64, f64)> = (1..=top).map(|n| (n as f64, rate1 * n as f64)).collect();
            let grey = RGBColor(0x99, 0x99, 0x99);
            chart
                .draw_series(LineSeries::new(ideal, grey.stroke_width(1)))
                .map_err(|e| err(file, e))?
                .label(format!("ideal N·rate(1) of {base}"))
                .legend(move |(x, y)| PathElement::new(vec![(x, y), (x + 20, y)], grey));
        }
        for fanout in [Fanout::Hash, Fanout::Cpu] {
            let mut pts: Vec<&crate::model::sweep::SweepPoint> = sw
                .points
                .iter()
                .filter(|p| p.base == base && (p.fanout == fanout || p.sockets == 1))
                .filter(|p| p.peak.is_some())
                .collect();
            pts.sort_by_key(|p| p.sockets);
            if pts.iter().all(|p| p.sockets == 1) && fanout == Fanout::Cpu {
                continue; // one point only: drawn once, with the hash line's colour
            }
            let c = PALETTE[ci % PALETTE.len()];
            ci += 1;
            let line: Vec<(f64, f64)> =
                pts.iter().filter_map(|p| Some((p.sockets as f64, p.peak?.est))).collect();
            let name = if pts.iter().all(|p| p.sockets == 1) {
                format!("{base} (1 socket)")
            } else {
                format!("{base} → {} steering", fanout.name())
            };
            chart
                .draw_series(LineSeries::new(line.clone(), c.stroke_width(2)))
                .map_err(|e| err(file, e))?
                .label(name)
                .legend(move |(x, y)| {
                    PathElement::new(vec![(x, y), (x + 20, y)], c.stroke_width(2))
                });
            chart
                .draw_series(line.iter().map(|&p| Circle::new(p, 4, c.filled())))
                .map_err(|e| err(file, e))?;
            for p in &pts {
                if let Some(i) = p.peak
                    && let (Some(lo), Some(hi)) = (i.lo, i.hi)
                {
                    let x = p.sockets as f64;
                    chart
                        .draw_series(std::iter::once(PathElement::new(
                            vec![(x, lo), (x, hi)],
                            c.stroke_width(1),
                        )))
                        .map_err(|e| err(file, e))?;
                }
            }
        }
    }
    chart
        .configure_series_labels()
        .position(SeriesLabelPosition::UpperLeft)
        .background_style(WHITE.mix(0.85))
        .border_style(BLACK.mix(0.3))
        .label_font(("sans-serif", 12))
        .draw()
        .map_err(|e| err(file, e))?;
    for (i, n) in notes.iter().enumerate() {
        foot.draw(&Text::new(n.as_str(), (14, 4 + 18 * i as i32), ("sans-serif", 12)))
            .map_err(|e| err(file, e))?;
    }
    root.present().map_err(|e| err(file, e))?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::sweep::{NotMeasurable, SweepPoint};
    use crate::stats::interval::Interval;

    fn point(fanout: Fanout, sockets: usize, peak: f64) -> SweepPoint {
        SweepPoint {
            scenario: crate::Scenario::Classic,
            fanout,
            label: format!("classic recvmmsg {sockets}×"),
            base: "classic recvmmsg 1×".into(),
            sockets,
            peak: Some(Interval { est: peak, lo: Some(peak * 0.9), hi: Some(peak * 1.1), n: 3 }),
            ndr: None,
            peak_efficiency: None,
            ndr_efficiency: None,
            ideal_peak: Some(100_000.0 * sockets as f64),
            share: None,
            share_trials: 0,
        }
    }

    #[test]
    fn draws_a_full_sweep_and_a_host_where_only_one_socket_fits() {
        let dir = std::env::temp_dir().join(format!("udprx-fanout-svg-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let full = FanoutSweep {
            receive_cores: 4,
            host_cores: 5,
            counts: vec![1, 2, 4],
            not_measurable: vec![],
            runs: vec![],
            points: vec![
                point(Fanout::One, 1, 100_000.0),
                point(Fanout::Hash, 2, 160_000.0),
                point(Fanout::Cpu, 2, 190_000.0),
                point(Fanout::Hash, 4, 300_000.0),
                point(Fanout::Cpu, 4, 380_000.0),
            ],
            error: None,
        };
        let f = dir.join("full.svg");
        draw(&f, &full).unwrap();
        let svg = std::fs::read_to_string(&f).unwrap();
        assert!(svg.contains("hash steering") && svg.contains("cpu steering"), "legend");
        assert!(svg.contains("ideal N·rate(1)"));
        assert!(caveats(&full).is_empty());
        let small = FanoutSweep {
            receive_cores: 1,
            host_cores: 2,
            counts: vec![1],
            not_measurable: vec![NotMeasurable {
                sockets: 2,
                reason: "2 sockets need 2 receive cores besides the sender's; this host has 1: \
                         not measurable on this host"
                    .into(),
            }],
            runs: vec![],
            points: vec![point(Fanout::One, 1, 100_000.0)],
            error: None,
        };
        let f = dir.join("small.svg");
        draw(&f, &small).unwrap();
        let svg = std::fs::read_to_string(&f).unwrap();
        assert!(svg.contains("not measurable here"), "the count that did not fit is shown");
        assert!(svg.contains("no scaling is measured"), "and said in words");
        assert!(svg.contains("(1 socket)"));
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
