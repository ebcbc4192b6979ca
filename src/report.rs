//! The run's plots and `report.html`: learning curves, the learning rate, gradient flow with
//! depth (the vanishing-gradient picture), activations per layer, and one self-contained HTML
//! page (plots embedded as data URLs) with the spec, summary, metrics, history and warnings.

use std::fmt::Write as _;
use std::path::{Path, PathBuf};

use base64::Engine as _;

use crate::callbacks::History;
use crate::diagnostics::LayerStats;
use crate::plot::{line_chart, Chart, Series};
use crate::{io, Result};

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
            "kernel gradient norm by depth (vanishing gradients shrink toward layer 0)",
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
                x_label: "layer (0 = input side)".into(),
                y_label: y_label.into(),
                log_y,
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
    /// The spec's text.
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
    /// The plot files to embed.
    pub plots: &'a [PathBuf],
}

fn escape(text: &str) -> String {
    text.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
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
    html.push_str("</table>\n<h2>Warnings and verdicts</h2>\n<ul>\n");
    if content.warnings.is_empty() && content.healthy.is_empty() {
        html.push_str("<li>none</li>\n");
    }
    for w in &content.warnings {
        let _ = writeln!(html, "<li class=\"warn\">{}</li>", escape(w));
    }
    for h in &content.healthy {
        let _ = writeln!(html, "<li class=\"ok\">{}</li>", escape(h));
    }
    html.push_str("</ul>\n<h2>Plots</h2>\n");
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
        "</table>\n<h2>Model</h2>\n<pre>{}</pre>\n<h2>Spec</h2>\n<pre>{}</pre>\n",
        escape(content.summary),
        escape(content.spec)
    );
    html.push_str(
        "<script>\nvar errors = 0;\nwindow.addEventListener('error', function () { errors += 1; document.body.dataset.errors = errors; });\n\
window.addEventListener('load', function () {\n  var imgs = Array.prototype.slice.call(document.images);\n  var ok = imgs.every(function (i) { return i.complete && i.naturalWidth > 0; });\n  document.body.dataset.images = (ok ? 'ok ' : 'broken ') + imgs.length;\n  document.body.dataset.errors = errors;\n});\n</script>\n</body></html>\n",
    );
    io::write_atomic(path, html.as_bytes())
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
                plots: &[],
            },
        )
        .unwrap();
        let html = std::fs::read_to_string(&path).unwrap();
        assert!(html.contains("<li class=\"ok\">verdict healthy_gradients"));
        assert!(html.contains("<li class=\"warn\">warning: SELU"));
    }
}
