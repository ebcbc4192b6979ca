//! The run's plots and `report.html`: learning curves, the learning rate, gradient flow with
//! depth (the vanishing-gradient picture), activations per layer, and one self-contained HTML
//! page (plots embedded as data URLs) with the spec as it ran, summary, metrics, time and
//! throughput, a classifier's confusion matrix and per-class scores, history and warnings.

use std::fmt::Write as _;
use std::path::{Path, PathBuf};

use base64::Engine as _;

use crate::callbacks::{CallbackSpec, History};
use crate::data::Dataset;
use crate::diagnostics::{EvidenceChart, LayerStats};
use crate::metrics::per_class::ClassReport;
use crate::monitor::Monitor;
use crate::plot::{line_chart, Chart, Series};
use crate::spec::Spec;
use crate::{io, Result, Sequential};

/// Reads one statistic of a layer row.
type StatFn = dyn Fn(&LayerStats) -> Option<f64>;

/// Up to `n` sampled steps spread over the run (first, ..., last).
fn moments(rows: &[LayerStats], n: usize) -> Vec<u64> {
    let mut steps: Vec<u64> = rows.iter().map(|r| r.step).collect();
    steps.sort_unstable();
    steps.dedup();
    if steps.len() <= n {
        return steps;
    }
    (0..n)
        .map(|k| steps[k * (steps.len() - 1) / (n - 1)])
        .collect()
}

/// Writes the plots into `dir`; returns their paths.
pub fn write_plots(dir: &Path, history: &History, rows: &[LayerStats]) -> Result<Vec<PathBuf>> {
    let mut written = Vec::new();
    let names: Vec<String> = history
        .epochs
        .first()
        .map(|e| e.values.iter().map(|v| v.0.clone()).collect())
        .unwrap_or_default();
    let epoch_series = |name: &str| Series {
        name: name.to_string(),
        points: history
            .epochs
            .iter()
            .filter_map(|e| e.get(name).map(|v| ((e.epoch + 1) as f64, v)))
            .collect(),
    };
    // Loss first, then every metric, each with its validation twin.
    let bases: Vec<&String> = names.iter().filter(|n| !n.starts_with("val_")).collect();
    for base in bases {
        let mut series = vec![epoch_series(base)];
        let val = format!("val_{base}");
        if names.contains(&val) {
            series.push(epoch_series(&val));
        }
        let path = dir.join(format!("curve_{base}.png"));
        line_chart(
            &path,
            &Chart {
                title: format!("{base} per epoch"),
                x_label: "epoch".into(),
                y_label: base.clone(),
                integer_x: true,
                ..Chart::default()
            },
            &series,
        )?;
        written.push(path);
    }
    let path = dir.join("learning_rate.png");
    line_chart(
        &path,
        &Chart {
            title: "learning rate (last step of each epoch)".into(),
            x_label: "epoch".into(),
            y_label: "learning rate".into(),
            log_y: true,
            integer_x: true,
            ..Chart::default()
        },
        &[Series {
            name: "lr".into(),
            points: history
                .epochs
                .iter()
                .map(|e| ((e.epoch + 1) as f64, e.learning_rate))
                .collect(),
        }],
    )?;
    written.push(path);
    if rows.is_empty() {
        return Ok(written);
    }
    let at = moments(rows, 4);
    // The layers by name, for the depth axis.
    let mut layer_names: Vec<String> = Vec::new();
    for r in rows {
        if layer_names.len() <= r.layer {
            layer_names.resize(r.layer + 1, String::new());
        }
        if layer_names[r.layer].is_empty() {
            layer_names[r.layer].clone_from(&r.name);
        }
    }
    let by_depth = |f: &dyn Fn(&LayerStats) -> Option<f64>| -> Vec<Series> {
        at.iter()
            .map(|&step| Series {
                name: format!("step {step}"),
                points: rows
                    .iter()
                    .filter(|r| r.step == step)
                    .filter_map(|r| f(r).map(|v| (r.layer as f64, v)))
                    .collect(),
            })
            .collect()
    };
    let plots: [(&str, &str, &str, bool, &StatFn); 3] = [
        (
            "gradient_flow.png",
            "kernel gradient norm by depth (vanishing gradients shrink toward the input)",
            "gradient L2 norm",
            true,
            &|r| r.grad_norm,
        ),
        (
            "activation_std.png",
            "activation standard deviation by depth",
            "std of outputs",
            false,
            &|r| Some(r.act_std),
        ),
        (
            "activation_mean.png",
            "activation mean by depth",
            "mean of outputs",
            false,
            &|r| Some(r.act_mean),
        ),
    ];
    for (file, title, y_label, log_y, f) in plots {
        let path = dir.join(file);
        line_chart(
            &path,
            &Chart {
                title: title.into(),
                x_label: "layer (input side first)".into(),
                y_label: y_label.into(),
                log_y,
                integer_x: true,
                x_names: layer_names.clone(),
                ..Chart::default()
            },
            &by_depth(f),
        )?;
        written.push(path);
    }
    Ok(written)
}

/// What the report shows.
pub struct ReportContent<'a> {
    /// Page title.
    pub title: &'a str,
    /// The spec as it ran (command-line overrides applied), as TOML.
    pub spec: &'a str,
    /// The model summary table.
    pub summary: &'a str,
    /// Final metrics: (set, [(name, value)]).
    pub metrics: Vec<(String, Vec<(String, f64)>)>,
    /// The history.
    pub history: &'a History,
    /// Configuration warnings and problem verdicts, one line each (shown as warnings).
    pub warnings: Vec<String>,
    /// Verdicts that report something working (shown in green, not as warnings).
    pub healthy: Vec<String>,
    /// The curve each verdict rests on, drawn under the verdicts as inline SVG.
    pub evidence: Vec<EvidenceChart>,
    /// The plot files to embed.
    pub plots: &'a [PathBuf],
    /// Facts of the run, (what, value): epochs, wall time, samples per second, threads.
    pub run: Vec<(String, String)>,
    /// A classifier's per-class results on a set, with the set's name.
    pub classes: Option<(&'a str, &'a ClassReport)>,
}

/// The spec as it ran, as TOML (the file's keys with the command-line overrides applied and
/// every default written out).
pub fn effective_spec(spec: &Spec) -> String {
    match toml::to_string(spec) {
        Ok(text) => text,
        Err(e) => format!(
            "# the spec could not be written as TOML ({e}); as JSON:\n{}",
            serde_json::to_string_pretty(spec).unwrap_or_default()
        ),
    }
}

/// A classifier's confusion matrix and per-class scores on `set` (`None` for a model whose
/// loss does not end in a softmax or a single sigmoid, or whose labels are not classes).
pub fn class_report(
    model: &mut Sequential,
    set: &Dataset,
    names: Option<&[String]>,
) -> Result<Option<ClassReport>> {
    use crate::activations::Activation;
    match model.loss().and_then(|l| l.fusable_activation()) {
        Some(Activation::Softmax) => {}
        Some(Activation::Sigmoid) if model.output_units() == 1 => {}
        _ => return Ok(None),
    }
    let outputs = model.predict(&set.x, 1024)?;
    Ok(ClassReport::from_outputs(&outputs, &set.labels, names))
}

/// The run's facts for the report: epochs, training time, seconds per epoch and training
/// samples per second (over the `trained` epochs of this process; a resumed run's earlier ones
/// took their own time), and the threads.
pub fn run_facts(
    epochs: usize,
    trained: usize,
    fit_seconds: f64,
    samples_per_second: f64,
) -> Vec<(String, String)> {
    let mut facts = vec![("epochs".to_string(), epochs.to_string())];
    if trained < epochs {
        facts.push((
            "epochs trained by this process (resumed)".into(),
            trained.to_string(),
        ));
    }
    facts.push(("training wall time".into(), format!("{fit_seconds:.2} s")));
    if trained > 0 {
        facts.push((
            "seconds per epoch".into(),
            format!("{:.3}", fit_seconds / trained as f64),
        ));
        facts.push((
            "training samples per second".into(),
            format!("{samples_per_second:.0}"),
        ));
    }
    facts.push(("threads".into(), crate::linalg::num_threads().to_string()));
    facts
}

/// What early stopping did in a run of `asked` epochs, as one line: where it stopped and, when
/// it restored them, whose weights the model kept (the best epoch of the monitored metric).
pub fn early_stopping_note(
    callbacks: &[CallbackSpec],
    history: &History,
    asked: usize,
) -> Option<String> {
    let CallbackSpec::EarlyStopping {
        monitor,
        mode,
        min_delta,
        restore_best_weights,
        ..
    } = callbacks
        .iter()
        .find(|c| matches!(c, CallbackSpec::EarlyStopping { .. }))?
    else {
        return None;
    };
    let ran = history.epochs.len();
    let mut watch = Monitor::new(monitor, *mode, *min_delta);
    let mut best = None;
    for e in &history.epochs {
        if watch.improved(&e.values).ok()? {
            best = Some(e.epoch + 1);
        }
    }
    let stopped = ran < asked;
    let mut line = if stopped {
        format!("Early stopping ({monitor}) stopped training after epoch {ran} of {asked}")
    } else {
        format!("Early stopping ({monitor}) did not stop training ({ran} of {asked} epochs)")
    };
    if let (true, Some(best)) = (*restore_best_weights, best) {
        let value = watch.best().unwrap_or(f64::NAN);
        line.push_str(&format!(
            "; the model has the weights of epoch {best}, the best {monitor} ({value:.4}), not the last epoch's"
        ));
    }
    Some(line)
}

fn escape(text: &str) -> String {
    text.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
}

/// Size of an evidence chart and its margins (left for the y labels, bottom for the x labels).
const SVG_SIZE: (f64, f64) = (520.0, 200.0);
const SVG_MARGIN: (f64, f64, f64, f64) = (64.0, 12.0, 12.0, 40.0);

/// A number for an axis label: plain between 0.01 and 10,000, else in exponent form.
fn tick(v: f64) -> String {
    if v == 0.0 || (0.01..1e4).contains(&v.abs()) {
        format!("{v:.3}")
            .trim_end_matches('0')
            .trim_end_matches('.')
            .to_string()
    } else {
        format!("{v:.1e}")
    }
}

/// An evidence chart as inline SVG: each series a polyline over its finite points (positive
/// ones on a log scale), the reference level dashed, the axes' extremes labelled.
fn evidence_svg(chart: &EvidenceChart) -> String {
    let (w, h) = SVG_SIZE;
    let (left, right, top, bottom) = SVG_MARGIN;
    let y_of = |y: f64| {
        if chart.log_y {
            (y > 0.0 && y.is_finite()).then(|| y.log10())
        } else {
            y.is_finite().then_some(y)
        }
    };
    let series: Vec<Vec<(f64, f64)>> = chart
        .series
        .iter()
        .map(|(_, points)| {
            points
                .iter()
                .filter(|p| p.0.is_finite())
                .filter_map(|&(x, y)| Some((x, y_of(y)?)))
                .collect()
        })
        .collect();
    let reference = chart.reference.as_ref().and_then(|(_, r)| y_of(*r));
    let xs = series.iter().flatten().map(|p| p.0);
    let ys = series.iter().flatten().map(|p| p.1).chain(reference);
    let span = |v: &mut dyn Iterator<Item = f64>| {
        v.fold(None, |acc: Option<(f64, f64)>, x| {
            Some(acc.map_or((x, x), |(lo, hi)| (lo.min(x), hi.max(x))))
        })
    };
    let (Some(x_span), Some(y_span)) = (span(&mut xs.clone()), span(&mut ys.clone())) else {
        return "<p>(no finite values to plot)</p>".into();
    };
    let widen = |(lo, hi): (f64, f64)| {
        if hi > lo {
            (lo, hi)
        } else {
            (lo - 0.5, hi + 0.5)
        }
    };
    let ((x0, x1), (y0, y1)) = (widen(x_span), widen(y_span));
    let px = |x: f64| left + (x - x0) / (x1 - x0) * (w - left - right);
    let py = |y: f64| top + (y1 - y) / (y1 - y0) * (h - top - bottom);
    let label = |y: f64| tick(if chart.log_y { 10f64.powf(y) } else { y });
    let mut svg = format!(
        "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"{w}\" height=\"{h}\" viewBox=\"0 0 {w} {h}\" font-size=\"10\">\
<rect x=\"{left}\" y=\"{top}\" width=\"{}\" height=\"{}\" fill=\"none\" stroke=\"#999\"/>",
        w - left - right,
        h - top - bottom
    );
    let _ = write!(
        svg,
        "<text x=\"{}\" y=\"{}\" text-anchor=\"end\">{}</text><text x=\"{}\" y=\"{}\" text-anchor=\"end\">{}</text>",
        left - 4.0,
        top + 8.0,
        label(y1),
        left - 4.0,
        h - bottom,
        label(y0)
    );
    let _ = write!(
        svg,
        "<text x=\"12\" y=\"{}\" transform=\"rotate(-90 12 {})\" text-anchor=\"middle\">{}</text>",
        (top + h - bottom) / 2.0,
        (top + h - bottom) / 2.0,
        escape(&chart.y_label)
    );
    if chart.x_names.is_empty() || chart.x_names.len() > 24 {
        let _ = write!(
            svg,
            "<text x=\"{left}\" y=\"{}\">{}</text><text x=\"{}\" y=\"{}\" text-anchor=\"end\">{}</text>",
            h - bottom + 12.0,
            tick(x0),
            w - right,
            h - bottom + 12.0,
            tick(x1)
        );
    } else {
        for (i, name) in chart.x_names.iter().enumerate() {
            let _ = write!(
                svg,
                "<text x=\"{:.1}\" y=\"{}\" text-anchor=\"middle\" font-size=\"8\">{}</text>",
                px(i as f64),
                h - bottom + 12.0,
                escape(name)
            );
        }
    }
    let _ = write!(
        svg,
        "<text x=\"{}\" y=\"{}\" text-anchor=\"middle\">{}</text>",
        (left + w - right) / 2.0,
        h - 6.0,
        escape(&chart.x_label)
    );
    if let (Some(r), Some((name, _))) = (reference, &chart.reference) {
        let _ = write!(
            svg,
            "<line x1=\"{left}\" x2=\"{}\" y1=\"{y:.1}\" y2=\"{y:.1}\" stroke=\"#a40\" stroke-dasharray=\"4 3\"/>\
<text x=\"{}\" y=\"{:.1}\" text-anchor=\"end\" fill=\"#a40\">{}</text>",
            w - right,
            w - right - 2.0,
            py(r) - 3.0,
            escape(name),
            y = py(r)
        );
    }
    const COLOURS: [&str; 4] = ["#1f5fa8", "#2a8a2a", "#8a2a8a", "#555"];
    for (i, points) in series.iter().enumerate() {
        let path: Vec<String> = points
            .iter()
            .map(|&(x, y)| format!("{:.1},{:.1}", px(x), py(y)))
            .collect();
        let _ = write!(
            svg,
            "<polyline fill=\"none\" stroke=\"{}\" stroke-width=\"1.5\" points=\"{}\"><title>{}</title></polyline>",
            COLOURS[i % COLOURS.len()],
            path.join(" "),
            escape(&chart.series[i].0)
        );
        if points.len() <= 40 {
            for &(x, y) in points {
                let _ = write!(
                    svg,
                    "<circle cx=\"{:.1}\" cy=\"{:.1}\" r=\"2.5\" fill=\"{}\"/>",
                    px(x),
                    py(y),
                    COLOURS[i % COLOURS.len()]
                );
            }
        }
    }
    svg.push_str("</svg>");
    svg
}

/// Writes `report.html` at `path`: one self-contained file (plots as data URLs, no network).
/// A small script marks `<body data-images="ok N">` once every image has decoded and counts
/// script errors in `data-errors`, so that a headless browser can verify the page.
pub fn write_report(path: &Path, content: &ReportContent) -> Result<()> {
    let mut html = String::new();
    let _ = write!(
        html,
        "<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\"><title>{}</title>\n<style>\
body{{font-family:sans-serif;margin:2em;max-width:1000px}} pre{{background:#f5f5f5;padding:1em;overflow-x:auto}}\
table{{border-collapse:collapse}} td,th{{border:1px solid #ccc;padding:2px 8px;text-align:right}}\
img{{max-width:100%;border:1px solid #ddd;margin:0.5em 0}} .warn{{color:#a40}} .ok{{color:#262}}</style></head>\n<body>\n<h1>{}</h1>\n",
        escape(content.title),
        escape(content.title)
    );
    html.push_str("<h2>Final metrics</h2>\n<table><tr><th>set</th><th>metrics</th></tr>\n");
    for (set, values) in &content.metrics {
        let text: Vec<String> = values.iter().map(|(n, v)| format!("{n}: {v:.4}")).collect();
        let _ = writeln!(
            html,
            "<tr><td>{}</td><td>{}</td></tr>",
            escape(set),
            escape(&text.join(", "))
        );
    }
    html.push_str("</table>\n");
    if !content.run.is_empty() {
        html.push_str("<h2>Run</h2>\n<table>\n");
        for (what, value) in &content.run {
            let _ = writeln!(
                html,
                "<tr><th>{}</th><td>{}</td></tr>",
                escape(what),
                escape(value)
            );
        }
        html.push_str("</table>\n");
    }
    if let Some((set, classes)) = content.classes {
        write_classes(&mut html, set, classes);
    }
    html.push_str("<h2>Warnings and verdicts</h2>\n<ul>\n");
    if content.warnings.is_empty() && content.healthy.is_empty() {
        html.push_str("<li>none</li>\n");
    }
    for w in &content.warnings {
        let _ = writeln!(html, "<li class=\"warn\">{}</li>", escape(w));
    }
    for h in &content.healthy {
        let _ = writeln!(html, "<li class=\"ok\">{}</li>", escape(h));
    }
    html.push_str("</ul>\n");
    for chart in &content.evidence {
        let _ = writeln!(
            html,
            "<figure class=\"evidence\">{}<figcaption>evidence of {}: {}</figcaption></figure>",
            evidence_svg(chart),
            escape(chart.verdict),
            escape(&chart.title)
        );
    }
    html.push_str("<h2>Plots</h2>\n");
    for plot in content.plots {
        let bytes = io::read(plot)?;
        let name = plot
            .file_name()
            .map_or(String::new(), |n| n.to_string_lossy().into_owned());
        let _ = writeln!(
            html,
            "<figure><img alt=\"{}\" src=\"data:image/png;base64,{}\"><figcaption>{}</figcaption></figure>",
            escape(&name),
            base64::engine::general_purpose::STANDARD.encode(bytes),
            escape(&name)
        );
    }
    html.push_str("<h2>History</h2>\n<table>\n");
    if let Some(first) = content.history.epochs.first() {
        html.push_str("<tr><th>epoch</th>");
        for (n, _) in &first.values {
            let _ = write!(html, "<th>{}</th>", escape(n));
        }
        html.push_str("<th>lr</th><th>seconds</th></tr>\n");
    }
    for e in &content.history.epochs {
        let _ = write!(html, "<tr><td>{}</td>", e.epoch + 1);
        for (_, v) in &e.values {
            let _ = write!(html, "<td>{v:.4}</td>");
        }
        let _ = writeln!(
            html,
            "<td>{:.3e}</td><td>{:.2}</td></tr>",
            e.learning_rate, e.seconds
        );
    }
    let _ = write!(
        html,
        "</table>\n<h2>Model</h2>\n<pre>{}</pre>\n<h2>Spec (as run, with the command-line overrides)</h2>\n<pre>{}</pre>\n",
        escape(content.summary),
        escape(content.spec)
    );
    html.push_str(
        "<script>\nvar errors = 0;\nwindow.addEventListener('error', function () { errors += 1; document.body.dataset.errors = errors; });\n\
window.addEventListener('load', function () {\n  var imgs = Array.prototype.slice.call(document.images);\n  var ok = imgs.every(function (i) { return i.complete && i.naturalWidth > 0; });\n  document.body.dataset.images = (ok ? 'ok ' : 'broken ') + imgs.length;\n  document.body.dataset.errors = errors;\n});\n</script>\n</body></html>\n",
    );
    io::write_atomic(path, html.as_bytes())
}

/// The confusion matrix (rows: true class, columns: predicted) and precision, recall, F1 and
/// support per class, with the macro average.
fn write_classes(html: &mut String, set: &str, r: &ClassReport) {
    let _ = writeln!(
        html,
        "<h2>Classes ({} set)</h2>\n<p>Confusion matrix: rows are the true class, columns the predicted one; accuracy {:.4}.</p>\n<table><tr><th>true \\ predicted</th>",
        escape(set),
        r.accuracy()
    );
    for name in &r.names {
        let _ = write!(html, "<th>{}</th>", escape(name));
    }
    html.push_str("</tr>\n");
    for (name, row) in r.names.iter().zip(&r.counts) {
        let _ = write!(html, "<tr><th>{}</th>", escape(name));
        for v in row {
            let _ = write!(html, "<td>{v}</td>");
        }
        html.push_str("</tr>\n");
    }
    html.push_str("</table>\n<table><tr><th>class</th><th>precision</th><th>recall</th><th>F1</th><th>support</th></tr>\n");
    for (c, name) in r.names.iter().enumerate() {
        let _ = writeln!(
            html,
            "<tr><th>{}</th><td>{:.4}</td><td>{:.4}</td><td>{:.4}</td><td>{}</td></tr>",
            escape(name),
            r.precision(c),
            r.recall(c),
            r.f1(c),
            r.support(c)
        );
    }
    let total: u64 = (0..r.names.len()).map(|c| r.support(c)).sum();
    let _ = writeln!(
        html,
        "<tr><th>macro avg</th><td>{:.4}</td><td>{:.4}</td><td>{:.4}</td><td>{total}</td></tr>\n</table>",
        r.macro_average(ClassReport::precision),
        r.macro_average(ClassReport::recall),
        r.macro_average(ClassReport::f1)
    );
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A healthy verdict is reported, but not in the warning colour.
    #[test]
    fn healthy_verdicts_are_not_shown_as_warnings() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("report.html");
        let history = History::default();
        write_report(
            &path,
            &ReportContent {
                title: "t",
                spec: "",
                summary: "",
                metrics: Vec::new(),
                history: &history,
                warnings: vec!["warning: SELU needs standardized inputs".into()],
                healthy: vec!["verdict healthy_gradients: fine".into()],
                evidence: Vec::new(),
                plots: &[],
                run: Vec::new(),
                classes: None,
            },
        )
        .unwrap();
        let html = std::fs::read_to_string(&path).unwrap();
        assert!(html.contains("<li class=\"ok\">verdict healthy_gradients"));
        assert!(html.contains("<li class=\"warn\">warning: SELU"));
    }

    /// A gradient-by-depth chart: log scale, one point per layer, the layers named; a loss
    /// chart with its reference level; nothing finite, a note instead of a chart.
    #[test]
    fn evidence_charts_are_inline_svg() {
        let depth = EvidenceChart {
            verdict: "vanishing_gradients",
            title: "by depth".into(),
            x_label: "layer".into(),
            y_label: "norm".into(),
            log_y: true,
            series: vec![("g".into(), vec![(0.0, 1e-6), (1.0, 1e-4), (2.0, 1e-2)])],
            reference: None,
            x_names: vec!["d0".into(), "d<1>".into(), "d2".into()],
        };
        let svg = evidence_svg(&depth);
        assert!(svg.starts_with("<svg") && svg.ends_with("</svg>"), "{svg}");
        assert_eq!(svg.matches("<circle").count(), 3);
        assert!(svg.contains(">1.0e-6<") && svg.contains(">0.01<"), "{svg}");
        assert!(svg.contains("d&lt;1&gt;"), "{svg}");
        // Evenly spaced in log10: the middle point halfway up the plot area.
        let (_, h) = SVG_SIZE;
        let (_, _, top, bottom) = SVG_MARGIN;
        let middle = format!(
            "{:.1},{:.1}",
            64.0 + (520.0 - 64.0 - 12.0) / 2.0,
            top + (h - top - bottom) / 2.0
        );
        assert!(svg.contains(&middle), "{middle} in {svg}");

        let loss = EvidenceChart {
            verdict: "slow_convergence",
            series: vec![("loss".into(), vec![(1.0, 2.0), (2.0, f64::NAN), (3.0, 1.5)])],
            reference: Some(("constant predictor".into(), 2.3)),
            ..EvidenceChart::default()
        };
        let svg = evidence_svg(&loss);
        assert!(svg.contains("stroke-dasharray") && svg.contains("constant predictor"));
        assert_eq!(
            svg.matches("<circle").count(),
            2,
            "the NaN is left out: {svg}"
        );

        let empty = EvidenceChart {
            series: vec![("loss".into(), vec![(1.0, f64::NAN)])],
            ..EvidenceChart::default()
        };
        assert_eq!(evidence_svg(&empty), "<p>(no finite values to plot)</p>");
    }
}
