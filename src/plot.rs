//! Line charts written as PNG (or SVG), with no external program: loss and accuracy curves,
//! the learning-rate range test, diagnostics. Text uses an embedded DejaVu Sans Mono (free
//! license, assets/fonts/DejaVu-LICENSE.txt), so plots look the same on every machine.

use std::path::Path;
use std::sync::Once;

use plotters::coord::ranged1d::{DefaultFormatting, KeyPointHint, Ranged};
use plotters::coord::types::RangedCoordf64;
use plotters::coord::Shift;
use plotters::prelude::*;

use crate::{Error, Result};

const FONT: &[u8] = include_bytes!("../assets/fonts/DejaVuSansMono.ttf");
const FAMILY: &str = "sans-serif";

/// One curve: a name for the legend and its points.
#[derive(Clone, Debug)]
pub struct Series {
    /// Legend label.
    pub name: String,
    /// (x, y) points; non-finite points are skipped.
    pub points: Vec<(f64, f64)>,
}

/// A chart's labels and axes.
#[derive(Clone, Debug, Default)]
pub struct Chart {
    /// Title above the plot.
    pub title: String,
    /// X-axis label.
    pub x_label: String,
    /// Y-axis label.
    pub y_label: String,
    /// Logarithmic x axis (learning rates).
    pub log_x: bool,
    /// Logarithmic y axis.
    pub log_y: bool,
    /// A vertical marker (x position and its label), e.g. the suggested rate.
    pub marker: Option<(f64, String)>,
    /// Fixed y range (default: fitted to the data); points beyond it are clipped.
    pub y_range: Option<(f64, f64)>,
    /// Ticks on the x axis only at whole numbers (epochs, layers), never at 1.5.
    pub integer_x: bool,
    /// Names for the whole-number x ticks (layer names), read by index; empty: the numbers.
    pub x_names: Vec<String>,
}

/// At most this many points in a series get a marker (a lone epoch is a dot, not nothing).
const MAX_MARKED_POINTS: usize = 60;

const PALETTE: [RGBColor; 8] = [
    RGBColor(31, 119, 180),
    RGBColor(255, 127, 14),
    RGBColor(44, 160, 44),
    RGBColor(214, 39, 40),
    RGBColor(148, 103, 189),
    RGBColor(140, 86, 75),
    RGBColor(227, 119, 194),
    RGBColor(127, 127, 127),
];

fn register_font() {
    static ONCE: Once = Once::new();
    ONCE.call_once(|| {
        // The font is embedded and valid; a failure here would only lose text, not the plot.
        let _ = plotters::style::register_font(FAMILY, FontStyle::Normal, FONT);
    });
}

/// Writes a line chart to `path`: SVG when it ends in `.svg`, PNG otherwise. The chart is drawn
/// in memory and written with [`crate::io::write_atomic`] (a regular file, never a part).
pub fn line_chart(path: &Path, chart: &Chart, series: &[Series]) -> Result<()> {
    register_font();
    let size = (900, 560);
    let fail =
        |e: Box<dyn std::error::Error>| Error::format(path, format!("cannot draw the chart: {e}"));
    let bytes = if path.extension().is_some_and(|e| e == "svg") {
        let mut text = String::new();
        {
            let root = SVGBackend::with_string(&mut text, size).into_drawing_area();
            draw(&root, chart, series).map_err(fail)?;
        }
        text.into_bytes()
    } else {
        let mut pixels = vec![0u8; size.0 as usize * size.1 as usize * 3];
        {
            let root = BitMapBackend::with_buffer(&mut pixels, size).into_drawing_area();
            draw(&root, chart, series).map_err(fail)?;
        }
        encode_png(&pixels, size).map_err(|e| Error::format(path, e.to_string()))?
    };
    crate::io::write_atomic(path, &bytes)
}

/// RGB pixels, row by row, as PNG bytes.
fn encode_png(
    pixels: &[u8],
    (width, height): (u32, u32),
) -> std::result::Result<Vec<u8>, png::EncodingError> {
    let mut bytes = Vec::new();
    {
        let mut encoder = png::Encoder::new(&mut bytes, width, height);
        encoder.set_color(png::ColorType::Rgb);
        encoder.set_depth(png::BitDepth::Eight);
        let mut writer = encoder.write_header()?;
        writer.write_image_data(pixels)?;
    }
    Ok(bytes)
}

fn bounds(values: impl Iterator<Item = f64>, log: bool) -> (f64, f64) {
    let (mut lo, mut hi) = (f64::INFINITY, f64::NEG_INFINITY);
    for v in values.filter(|v| v.is_finite() && (!log || *v > 0.0)) {
        lo = lo.min(v);
        hi = hi.max(v);
    }
    if !lo.is_finite() {
        return if log { (1e-3, 1.0) } else { (0.0, 1.0) };
    }
    if log {
        (lo / 1.2, hi * 1.2)
    } else if hi - lo <= 1e-9 * hi.abs().max(1.0) {
        // One value (a single epoch, a constant): a readable span around it.
        let pad = (hi.abs() * 0.05).max(0.05);
        (lo - pad, hi + pad)
    } else {
        let pad = (hi - lo) * 0.05;
        (lo - pad, hi + pad)
    }
}

/// The x range of a whole-number axis: half a step beyond the ends, so that one epoch or
/// layer sits in the middle.
fn integer_bounds(values: impl Iterator<Item = f64>) -> (f64, f64) {
    let (lo, hi) = bounds(values, false);
    let (lo, hi) = (lo.ceil(), hi.floor());
    if hi < lo {
        // No whole number inside: the value's own.
        let mid = ((lo + hi) / 2.0).round();
        return (mid - 0.5, mid + 0.5);
    }
    let pad = ((hi - lo) * 0.04).max(0.5);
    (lo - pad, hi + pad)
}

/// Whole-number ticks in [lo, hi]: every 1, 2, 5, 10, 20, ... whichever gives at most ten.
fn integer_ticks(lo: f64, hi: f64) -> Vec<f64> {
    let (first, last) = (lo.ceil(), hi.floor());
    if !(first.is_finite() && last.is_finite()) || last < first {
        return Vec::new();
    }
    let mut step = 1.0;
    for k in 0.. {
        step = [1.0, 2.0, 5.0][k % 3] * 10f64.powi(k as i32 / 3);
        if (last - first) / step < 10.0 {
            break;
        }
    }
    let start = (first / step).ceil() * step;
    let count = ((last - start) / step).floor() as usize + 1;
    (0..count).map(|i| start + i as f64 * step).collect()
}

/// A short tick label: 0.001 → "1e-3", 250 → "250", 0.25 → "0.25".
fn tick(v: f64) -> String {
    let a = v.abs();
    if v == 0.0 {
        "0".into()
    } else if !(1e-2..1e5).contains(&a) {
        let s = format!("{v:.0e}");
        s.replace("e-0", "e-").replace("e0", "e")
    } else if a >= 100.0 {
        format!("{v:.0}")
    } else {
        let s = format!("{v:.3}");
        s.trim_end_matches('0').trim_end_matches('.').to_string()
    }
}

/// Tick positions for a log axis over [lo, hi]: 1, 2 and 5 times the powers of ten inside (every
/// digit when that gives fewer than four), thinned to at most ten, plus both ends while fewer
/// than three fall inside (unless one would crowd a tick already there).
fn log_ticks(lo: f64, hi: f64) -> Vec<f64> {
    if !(lo > 0.0 && hi > lo && hi.is_finite()) {
        return Vec::new();
    }
    let inside = |digits: &[f64]| -> Vec<f64> {
        let mut out = Vec::new();
        for k in lo.log10().floor() as i32..=hi.log10().ceil() as i32 {
            for &d in digits {
                let v = d * 10f64.powi(k);
                if v >= lo * (1.0 - 1e-9) && v <= hi * (1.0 + 1e-9) {
                    out.push(v);
                }
            }
        }
        out
    };
    let mut ticks = inside(&[1.0, 2.0, 5.0]);
    if ticks.len() < 4 {
        ticks = inside(&[1.0, 2.0, 3.0, 4.0, 5.0, 6.0, 7.0, 8.0, 9.0]);
    }
    if ticks.len() > 10 {
        ticks.retain(|v| {
            let m = v / 10f64.powi(v.log10().floor() as i32);
            (m - 1.0).abs() < 1e-9
        });
    }
    if ticks.len() < 3 {
        // Two significant digits, as the nearest double to the decimal text.
        let round = |v: f64| format!("{v:.1e}").parse().unwrap_or(v);
        // Ends that would crowd a tick already there are left out.
        for end in [round(lo * 1.02), round(hi / 1.02)] {
            if ticks.iter().all(|t| (t / end).log10().abs() > 0.06) {
                ticks.push(end);
            }
        }
        ticks.sort_by(f64::total_cmp);
    }
    ticks
}

/// A linear axis whose only ticks (and grid lines) are the given whole numbers.
struct WholeAxis {
    lo: f64,
    hi: f64,
    ticks: Vec<f64>,
}

impl Ranged for WholeAxis {
    type FormatOption = DefaultFormatting;
    type ValueType = f64;

    fn map(&self, value: &f64, limit: (i32, i32)) -> i32 {
        RangedCoordf64::from(self.lo..self.hi).map(value, limit)
    }

    fn key_points<Hint: KeyPointHint>(&self, hint: Hint) -> Vec<f64> {
        if hint.weight().allow_light_points() {
            Vec::new()
        } else {
            self.ticks.clone()
        }
    }

    fn range(&self) -> std::ops::Range<f64> {
        self.lo..self.hi
    }
}

type DrawResult = std::result::Result<(), Box<dyn std::error::Error>>;

fn draw<DB: DrawingBackend>(
    root: &DrawingArea<DB, Shift>,
    chart: &Chart,
    series: &[Series],
) -> DrawResult
where
    DB::ErrorType: 'static,
{
    root.fill(&WHITE)?;
    let points = || series.iter().flat_map(|s| s.points.iter());
    let integer_x = chart.integer_x && !chart.log_x;
    let x = if integer_x {
        integer_bounds(points().map(|p| p.0))
    } else {
        bounds(points().map(|p| p.0), chart.log_x)
    };
    let x_label = |v: &f64| -> String {
        let whole = (v - v.round()).abs() < 1e-9 && *v >= 0.0;
        match chart.x_names.get(v.round() as usize) {
            Some(name) if whole => name.clone(),
            _ => tick(*v),
        }
    };
    let y = chart
        .y_range
        .unwrap_or_else(|| bounds(points().map(|p| p.1), chart.log_y));
    let mut builder = ChartBuilder::on(root);
    builder
        .caption(&chart.title, (FAMILY, 22))
        .margin(12)
        .x_label_area_size(44)
        .y_label_area_size(70);
    // Four coordinate combinations, one drawing routine.
    macro_rules! plot {
        ($x:expr, $y:expr) => {{
            let mut ctx = builder.build_cartesian_2d($x, $y)?;
            ctx.configure_mesh()
                .x_labels(8)
                .y_labels(8)
                .x_label_formatter(&x_label)
                .y_label_formatter(&|v| tick(*v))
                .x_desc(&chart.x_label)
                .y_desc(&chart.y_label)
                .label_style((FAMILY, 14))
                .light_line_style(RGBColor(235, 235, 235))
                .draw()?;
            for (i, s) in series.iter().enumerate() {
                let color = PALETTE[i % PALETTE.len()];
                let pts: Vec<(f64, f64)> = s
                    .points
                    .iter()
                    .copied()
                    .filter(|(a, b)| {
                        a.is_finite()
                            && b.is_finite()
                            && (!chart.log_x || *a > 0.0)
                            && (!chart.log_y || *b > 0.0)
                    })
                    .map(|(a, b)| (a, b.clamp(y.0, y.1)))
                    .collect();
                if pts.len() <= MAX_MARKED_POINTS {
                    ctx.draw_series(pts.iter().map(|&p| Circle::new(p, 4, color.filled())))?;
                }
                ctx.draw_series(LineSeries::new(pts, color.stroke_width(2)))?
                    .label(s.name.as_str())
                    .legend(move |(x, y)| {
                        PathElement::new(vec![(x, y), (x + 18, y)], color.stroke_width(2))
                    });
            }
            if let Some((mx, label)) = &chart.marker {
                let line = vec![(*mx, y.0), (*mx, y.1)];
                ctx.draw_series(LineSeries::new(line, BLACK.stroke_width(1)))?
                    .label(label.as_str())
                    .legend(|(x, y)| {
                        PathElement::new(vec![(x, y), (x + 18, y)], BLACK.stroke_width(1))
                    });
            }
            ctx.configure_series_labels()
                .background_style(WHITE.mix(0.85))
                .border_style(BLACK)
                .label_font((FAMILY, 14))
                .draw()?;
        }};
    }
    // Log axes get their own ticks: plotters marks only whole powers of ten, so a range within
    // one decade (a constant learning rate) would have none.
    let log = |(lo, hi): (f64, f64)| (lo..hi).log_scale().with_key_points(log_ticks(lo, hi));
    // Whole-number axes tick at whole numbers only.
    let whole = |(lo, hi): (f64, f64)| WholeAxis {
        lo,
        hi,
        ticks: integer_ticks(lo, hi),
    };
    match (chart.log_x, chart.log_y, integer_x) {
        (false, false, true) => plot!(whole(x), y.0..y.1),
        (false, true, true) => plot!(whole(x), log(y)),
        (false, false, false) => plot!(x.0..x.1, y.0..y.1),
        (true, false, _) => plot!(log(x), y.0..y.1),
        (false, true, false) => plot!(x.0..x.1, log(y)),
        (true, true, _) => plot!(log(x), log(y)),
    }
    root.present()?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn whole_number_axes_tick_at_whole_numbers_and_a_lone_point_gets_a_span() {
        assert_eq!(integer_bounds([1.0].into_iter()), (0.5, 1.5));
        assert_eq!(integer_ticks(0.5, 1.5), vec![1.0]);
        assert_eq!(integer_ticks(-0.5, 3.5), vec![0.0, 1.0, 2.0, 3.0]);
        assert_eq!(
            integer_ticks(0.0, 30.0),
            vec![0.0, 5.0, 10.0, 15.0, 20.0, 25.0, 30.0]
        );
        let ticks = integer_ticks(1.0, 300.0);
        assert!(
            ticks.len() <= 10 && ticks.iter().all(|t| t.fract() == 0.0),
            "{ticks:?}"
        );
        let (lo, hi) = bounds([2.3].into_iter(), false);
        assert!(hi - lo > 0.1 && lo < 2.3 && hi > 2.3, "{lo} {hi}");
    }

    #[test]
    fn log_axes_get_readable_ticks_even_within_one_decade() {
        // A constant rate of 0.01 is plotted over [0.01/1.2, 0.01·1.2].
        let t = log_ticks(0.01 / 1.2, 0.012);
        assert!(t.len() >= 3, "{t:?}");
        assert!(
            t.iter().all(|&v| (0.01 / 1.2..=0.012).contains(&v)),
            "{t:?}"
        );
        assert!(t.contains(&0.01), "{t:?}");
        // Six decades: the powers of ten, not 18 crowded marks.
        let t = log_ticks(1e-6, 1.0);
        assert!((5..=10).contains(&t.len()), "{t:?}");
        // One to two decades: 1-2-5 steps.
        let t = log_ticks(1e-4, 5e-3);
        assert_eq!(t.len(), 6, "{t:?}");
    }

    /// A by-depth chart names its layers on the x axis; a 1-epoch curve is a point, ticked at
    /// its whole number.
    #[test]
    fn whole_number_ticks_carry_the_layer_names() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("depth.svg");
        let chart = Chart {
            title: "by depth".into(),
            integer_x: true,
            x_names: vec!["hidden_a".into(), "hidden_b".into(), "out_c".into()],
            ..Chart::default()
        };
        let series = [Series {
            name: "norm".into(),
            points: vec![(0.0, 1.0), (1.0, 0.5), (2.0, 0.25)],
        }];
        // The texts the SVG draws.
        let texts = |path: &Path| -> Vec<String> {
            let svg = std::fs::read_to_string(path).unwrap();
            svg.split("<text")
                .skip(1)
                .filter_map(|t| {
                    Some(
                        t.split_once('>')?
                            .1
                            .split_once("</text>")?
                            .0
                            .trim()
                            .to_string(),
                    )
                })
                .collect()
        };
        line_chart(&path, &chart, &series).unwrap();
        let drawn = texts(&path);
        for name in ["hidden_a", "hidden_b", "out_c"] {
            assert!(drawn.iter().any(|t| t == name), "{name} not in {drawn:?}");
        }
        let one = Chart {
            integer_x: true,
            ..Chart::default()
        };
        line_chart(
            &path,
            &one,
            &[Series {
                name: "loss".into(),
                points: vec![(1.0, 0.3)],
            }],
        )
        .unwrap();
        let drawn = texts(&path);
        assert!(
            drawn.iter().any(|t| t == "1") && !drawn.iter().any(|t| t == "0.5" || t == "1.5"),
            "{drawn:?}"
        );
    }

    #[test]
    fn writes_png_and_svg() {
        let dir = tempfile::tempdir().unwrap();
        let series = vec![Series {
            name: "loss".into(),
            points: (1..50).map(|i| (i as f64 * 1e-4, 1.0 / i as f64)).collect(),
        }];
        let chart = Chart {
            title: "test".into(),
            x_label: "rate".into(),
            y_label: "loss".into(),
            log_x: true,
            marker: Some((1e-3, "suggested".into())),
            ..Chart::default()
        };
        for name in ["a.png", "a.svg"] {
            let path = match std::env::var("DEEPTRAIN_PLOT_DIR") {
                Ok(d) => std::path::PathBuf::from(d).join(name),
                Err(_) => dir.path().join(name),
            };
            line_chart(&path, &chart, &series).unwrap();
            let bytes = std::fs::read(&path).unwrap();
            assert!(bytes.len() > 1000, "{name}: {} bytes", bytes.len());
        }
        let png = std::env::var("DEEPTRAIN_PLOT_DIR")
            .map(|d| std::path::PathBuf::from(d).join("a.png"))
            .unwrap_or_else(|_| dir.path().join("a.png"));
        assert!(std::fs::read(png).unwrap().starts_with(b"\x89PNG"));
    }
}
