//! The receive-livelock plot (Mogul & Ramakrishnan): for one traffic scenario, received
//! datagrams/s against offered datagrams/s, one line with markers per receive path, and the
//! dashed diagonal y = x ("every offered datagram received").
//!
//! A curve that bends below the diagonal shows the knee (the path's capacity); a curve that
//! falls as the offered rate keeps rising shows livelock. Points may carry a vertical 95%
//! interval, drawn as an error bar; the unpaced flood is drawn as a hollow star.

use super::err;
use crate::Result;
use plotters::coord::types::RangedCoordf64;
use plotters::element::{ComposedElement, DashedPathElement};
use plotters::prelude::*;
use std::path::Path;

/// One point of a curve.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct CurvePoint {
    /// Offered rate, datagrams/s (what the sender put on the wire).
    pub offered: f64,
    /// Received rate, datagrams/s (what the path delivered to the application).
    pub received: f64,
    /// 95% interval of the received rate, (lo, hi), drawn as a vertical error bar.
    pub interval: Option<(f64, f64)>,
    /// True for the unpaced flood ("max"), drawn with a distinct marker.
    pub unpaced: bool,
}

/// One path's curve.
#[derive(Debug, Clone, PartialEq)]
pub struct Curve {
    /// Path label, shown in the legend.
    pub label: String,
    /// The measured points, in any order.
    pub points: Vec<CurvePoint>,
}

/// Twelve colours that stay apart on white: Paul Tol's bright set, then his muted and vibrant
/// ones for the rest, and a dark grey.
const PALETTE: [RGBColor; 12] = [
    RGBColor(0x44, 0x77, 0xaa),
    RGBColor(0xee, 0x66, 0x77),
    RGBColor(0x22, 0x88, 0x33),
    RGBColor(0xcc, 0xbb, 0x44),
    RGBColor(0x66, 0xcc, 0xee),
    RGBColor(0xaa, 0x33, 0x77),
    RGBColor(0x33, 0x22, 0x88),
    RGBColor(0xee, 0x77, 0x33),
    RGBColor(0x44, 0xaa, 0x99),
    RGBColor(0x88, 0x22, 0x55),
    RGBColor(0x99, 0x99, 0x33),
    RGBColor(0x55, 0x55, 0x55),
];

/// Colour of the y = x diagonal (used by nothing else, so tests can find it).
const DIAGONAL: RGBColor = RGBColor(0x80, 0x80, 0x80);

/// Marker shapes per path; 5 shapes against 12 colours repeat together only after 60 paths.
#[derive(Debug, Clone, Copy)]
enum Shape {
    Circle,
    Square,
    TriangleUp,
    Diamond,
    TriangleDown,
    /// Reserved for the unpaced point.
    Star,
}

const SHAPES: [Shape; 5] =
    [Shape::Circle, Shape::Square, Shape::TriangleUp, Shape::Diamond, Shape::TriangleDown];

/// Marker radius in pixels; the unpaced star is larger.
const R: f64 = 5.0;
const R_UNPACED: f64 = 8.0;

/// Vertices of `shape` of radius `r` centred on (`cx`, `cy`), in pixels.
fn vertices(shape: Shape, cx: i32, cy: i32, r: f64) -> Vec<(i32, i32)> {
    let polar = |n: usize, phase: f64, radius: &dyn Fn(usize) -> f64| -> Vec<(i32, i32)> {
        (0..n)
            .map(|k| {
                let a = phase + std::f64::consts::TAU * k as f64 / n as f64;
                let rr = radius(k);
                (cx + (rr * a.cos()).round() as i32, cy + (rr * a.sin()).round() as i32)
            })
            .collect()
    };
    use std::f64::consts::FRAC_PI_2;
    match shape {
        Shape::Circle => polar(16, 0.0, &|_| r),
        // Same area as the circle, roughly: a square of half-side 0.9 r.
        Shape::Square => polar(4, FRAC_PI_2 / 2.0, &|_| r * 1.25),
        Shape::TriangleUp => polar(3, -FRAC_PI_2, &|_| r * 1.35),
        Shape::Diamond => polar(4, 0.0, &|_| r * 1.3),
        Shape::TriangleDown => polar(3, FRAC_PI_2, &|_| r * 1.35),
        Shape::Star => polar(10, -FRAC_PI_2, &|k| if k % 2 == 0 { r } else { r * 0.45 }),
    }
}

/// A marker: a filled polygon plus its outline, at a data (or backend) coordinate.
type Marker<C, DB> = ComposedElement<C, DB, Polygon<(i32, i32)>, PathElement<(i32, i32)>>;

fn marker<C, DB: DrawingBackend>(
    at: C,
    offset: (i32, i32),
    shape: Shape,
    r: f64,
    fill: ShapeStyle,
    outline: ShapeStyle,
) -> Marker<C, DB> {
    let v = vertices(shape, offset.0, offset.1, r);
    let mut closed = v.clone();
    closed.push(v[0]);
    EmptyElement::at(at) + Polygon::new(v, fill) + PathElement::new(closed, outline)
}

/// Filled marker of a path.
fn solid<C, DB: DrawingBackend>(
    at: C,
    offset: (i32, i32),
    shape: Shape,
    c: RGBColor,
) -> Marker<C, DB> {
    marker(at, offset, shape, R, c.filled(), c.stroke_width(1))
}

/// Hollow star of an unpaced point.
fn hollow<C, DB: DrawingBackend>(at: C, offset: (i32, i32), c: RGBColor) -> Marker<C, DB> {
    marker(at, offset, Shape::Star, R_UNPACED, WHITE.filled(), c.stroke_width(2))
}

/// The finite points of a curve, sorted by offered rate.
fn clean(points: &[CurvePoint]) -> Vec<CurvePoint> {
    let mut p: Vec<CurvePoint> = points
        .iter()
        .filter(|p| p.offered.is_finite() && p.received.is_finite())
        .copied()
        .collect();
    p.sort_by(|a, b| a.offered.total_cmp(&b.offered));
    p
}

type Chart<'a, 'b> = ChartContext<'a, SVGBackend<'b>, Cartesian2d<RangedCoordf64, RangedCoordf64>>;

/// Draws curve `i`: error bars, then the line (which carries the legend entry), then markers.
fn curve<'a, 'b: 'a>(
    chart: &mut Chart<'a, 'b>,
    i: usize,
    label: &str,
    pts: &[CurvePoint],
) -> std::result::Result<(), DrawingAreaErrorKind<std::io::Error>> {
    let color = PALETTE[i % PALETTE.len()];
    let shape = SHAPES[i % SHAPES.len()];
    // Error bars first, so markers sit on top.
    let bars = pts.iter().filter_map(|p| {
        let (lo, hi) = p.interval?;
        (lo.is_finite() && hi.is_finite()).then_some((p.offered, lo.max(0.0), hi.max(0.0)))
    });
    for (x, lo, hi) in bars {
        let style = color.mix(0.9).stroke_width(1);
        chart.draw_series([PathElement::new(vec![(x, lo), (x, hi)], style)])?;
        chart
            .draw_series([lo, hi].map(|y| {
                EmptyElement::at((x, y)) + PathElement::new(vec![(-4, 0), (4, 0)], style)
            }))?;
    }
    let label = if pts.is_empty() { format!("{label} (no data)") } else { label.to_string() };
    chart
        .draw_series(LineSeries::new(
            pts.iter().map(|p| (p.offered, p.received)),
            color.stroke_width(2),
        ))?
        .label(label)
        .legend(move |(x, y)| {
            EmptyElement::at((x, y))
                + PathElement::new(vec![(0, 0), (24, 0)], color.stroke_width(2))
                + solid((0, 0), (12, 0), shape, color)
        });
    chart.draw_series(
        pts.iter()
            .filter(|p| !p.unpaced)
            .map(|p| solid((p.offered, p.received), (0, 0), shape, color)),
    )?;
    chart.draw_series(
        pts.iter().filter(|p| p.unpaced).map(|p| hollow((p.offered, p.received), (0, 0), color)),
    )?;
    Ok(())
}

/// Draws the livelock plot into `file` (SVG).
///
/// One line with markers per curve, through its points sorted by offered rate; unpaced points
/// get a hollow star in the curve's colour (one "unpaced" legend entry); intervals are drawn as
/// vertical error bars with caps. Both axes start at 0 and share one scale (the largest offered,
/// received or interval-high value × 1.05), so the dashed y = x line is the diagonal. Axis
/// labels read as rates (`250k`, `1.2M`); the legend sits in the upper left, the corner a
/// receiver cannot reach (it cannot receive more than was offered). Empty input draws the axes
/// and the diagonal only; non-finite points are skipped.
pub fn draw(file: &Path, title: &str, curves: &[Curve]) -> Result<()> {
    let cleaned: Vec<(&str, Vec<CurvePoint>)> =
        curves.iter().map(|c| (c.label.as_str(), clean(&c.points))).collect();
    let max = cleaned
        .iter()
        .flat_map(|(_, ps)| ps.iter())
        .flat_map(|p| {
            let hi = p.interval.map(|i| i.0.max(i.1)).filter(|v| v.is_finite()).unwrap_or(0.0);
            [p.offered, p.received, hi]
        })
        .fold(0.0, f64::max);
    let max = if max > 0.0 { max * 1.05 } else { 1_000.0 };

    let root = SVGBackend::new(file, (860, 820)).into_drawing_area();
    root.fill(&WHITE).map_err(|e| err(file, e))?;
    let mut chart = ChartBuilder::on(&root)
        .caption(title, ("sans-serif", 18))
        .margin(14)
        .x_label_area_size(48)
        .y_label_area_size(64)
        .build_cartesian_2d(0f64..max, 0f64..max)
        .map_err(|e| err(file, e))?;
    chart
        .configure_mesh()
        .x_labels(10)
        .y_labels(10)
        .light_line_style(BLACK.mix(0.04))
        .bold_line_style(BLACK.mix(0.12))
        .label_style(("sans-serif", 12))
        .axis_desc_style(("sans-serif", 13))
        .x_desc("offered datagrams/s")
        .y_desc("received datagrams/s")
        .x_label_formatter(&|v| crate::text::kpps(*v))
        .y_label_formatter(&|v| crate::text::kpps(*v))
        .draw()
        .map_err(|e| err(file, e))?;

    let diag_style = DIAGONAL.stroke_width(2);
    chart
        .draw_series(DashedLineSeries::new(vec![(0.0, 0.0), (max, max)], 8, 6, diag_style))
        .map_err(|e| err(file, e))?
        .label("y = x (all offered received)")
        .legend(move |(x, y)| DashedPathElement::new(vec![(x, y), (x + 24, y)], 6, 4, diag_style));

    for (i, (label, pts)) in cleaned.iter().enumerate() {
        curve(&mut chart, i, label, pts).map_err(|e| err(file, e))?;
    }

    let any = |f: fn(&CurvePoint) -> bool| cleaned.iter().any(|(_, ps)| ps.iter().any(f));
    if any(|p| p.unpaced) {
        chart
            .draw_series(std::iter::empty::<Marker<(f64, f64), SVGBackend<'_>>>())
            .map_err(|e| err(file, e))?
            .label("unpaced")
            .legend(|(x, y)| hollow((x, y), (12, 0), BLACK));
    }
    if any(|p| p.interval.is_some()) {
        chart
            .draw_series(std::iter::empty::<PathElement<(f64, f64)>>())
            .map_err(|e| err(file, e))?
            .label("95% interval")
            .legend(|(x, y)| {
                let s = BLACK.stroke_width(1);
                EmptyElement::at((x + 12, y))
                    + PathElement::new(vec![(0, -6), (0, 6)], s)
                    + PathElement::new(vec![(-4, -6), (4, -6)], s)
                    + PathElement::new(vec![(-4, 6), (4, 6)], s)
            });
    }

    chart
        .configure_series_labels()
        .position(SeriesLabelPosition::UpperLeft)
        .margin(10)
        .legend_area_size(30)
        .label_font(("sans-serif", 12))
        .background_style(WHITE.mix(0.9))
        .border_style(BLACK.mix(0.5))
        .draw()
        .map_err(|e| err(file, e))?;
    root.present().map_err(|e| err(file, e))?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pt(offered: f64, received: f64) -> CurvePoint {
        CurvePoint { offered, received, interval: None, unpaced: false }
    }

    fn sample() -> Vec<Curve> {
        // A path that keeps up, one with a knee, one that livelocks.
        let fine = (1..=8).map(|k| pt(k as f64 * 150_000.0, k as f64 * 149_000.0)).collect();
        let mut knee: Vec<CurvePoint> = [
            (150e3, 150e3),
            (300e3, 298e3),
            (450e3, 430e3),
            (600e3, 520e3),
            (750e3, 545e3),
            (900e3, 550e3),
        ]
        .iter()
        .map(|&(o, r)| CurvePoint { interval: Some((r * 0.97, r * 1.02)), ..pt(o, r) })
        .collect();
        knee.push(CurvePoint {
            offered: 1_150_000.0,
            received: 548_000.0,
            interval: Some((530_000.0, 560_000.0)),
            unpaced: true,
        });
        // Unsorted on purpose.
        let livelock = vec![
            pt(600e3, 310e3),
            pt(150e3, 150e3),
            CurvePoint { offered: 1_250_000.0, received: 90e3, interval: None, unpaced: true },
            pt(300e3, 290e3),
            CurvePoint { interval: Some((180e3, 230e3)), ..pt(900e3, 200e3) },
        ];
        vec![
            Curve { label: "reuseport recvmmsg 4x".into(), points: fine },
            Curve { label: "classic recvmmsg 1x".into(), points: knee },
            Curve { label: "classic recvfrom 1x".into(), points: livelock },
        ]
    }

    fn temp(name: &str) -> std::path::PathBuf {
        std::env::temp_dir().join(format!("udprx-livelock-{}-{name}.svg", std::process::id()))
    }

    #[test]
    fn draws_livelock_plot() {
        let file = temp("three");
        draw(&file, "classic flood: received vs offered", &sample()).unwrap();
        let svg = std::fs::read_to_string(&file).unwrap();
        std::fs::remove_file(&file).unwrap();
        assert!(svg.starts_with("<svg"), "{}", &svg[..svg.len().min(80)]);
        for label in
            ["reuseport recvmmsg 4x", "classic recvmmsg 1x", "classic recvfrom 1x", "unpaced"]
        {
            assert!(svg.contains(label), "missing {label}");
        }
        assert!(svg.contains("y = x"));
        assert!(svg.contains("95% interval"));
        assert!(svg.contains("received datagrams/s") && svg.contains("offered datagrams/s"));
        // The dashed diagonal: many short polylines in its own colour.
        let dashes = svg.matches("<polyline").count();
        let diag = svg
            .split("<polyline")
            .filter(|s| s.split('>').next().is_some_and(|a| a.contains("stroke=\"#808080\"")))
            .count();
        assert!(diag > 10, "diagonal dashes: {diag} of {dashes} polylines");
        assert!(svg.contains("<polygon"), "no markers");
        assert!(svg.len() > 2048, "{} bytes", svg.len());
    }

    #[test]
    fn empty_input_draws_axes_and_diagonal() {
        for (name, curves) in [
            ("none", vec![]),
            ("nopoints", vec![Curve { label: "idle".into(), points: vec![] }]),
            (
                "nan",
                vec![Curve { label: "bad".into(), points: vec![pt(f64::NAN, 1.0), pt(0.0, 0.0)] }],
            ),
        ] {
            let file = temp(name);
            draw(&file, "empty", &curves).unwrap();
            let svg = std::fs::read_to_string(&file).unwrap();
            std::fs::remove_file(&file).unwrap();
            assert!(svg.starts_with("<svg") && svg.contains("y = x"), "{name}");
        }
    }

    #[test]
    fn twelve_paths_get_distinct_styles() {
        let colours: std::collections::HashSet<_> =
            PALETTE.iter().map(|c| (c.0, c.1, c.2)).collect();
        assert_eq!(colours.len(), 12);
        let curves: Vec<Curve> = (0..12)
            .map(|i| Curve {
                label: format!("path {i}"),
                points: vec![pt(1e5, 1e5 - i as f64 * 5e3), pt(2e6, 1.5e6 - i as f64 * 1e5)],
            })
            .collect();
        let file = temp("twelve");
        draw(&file, "twelve", &curves).unwrap();
        let svg = std::fs::read_to_string(&file).unwrap();
        std::fs::remove_file(&file).unwrap();
        assert!((0..12).all(|i| svg.contains(&format!("path {i}"))));
    }
}
