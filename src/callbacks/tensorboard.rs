//! Keras' `TensorBoard` callback: TensorFlow event files that the real TensorBoard reads.
//!
//! Layout, as Keras writes it: `LOG_DIR/train/` holds the per-epoch training scalars
//! (`epoch_loss`, `epoch_<metric>`, `epoch_learning_rate`, `epoch_penalty`), the histograms
//! and the diagnostics' update ratios; `LOG_DIR/validation/` the validation scalars under the
//! same tags (`epoch_loss`, `epoch_accuracy`, ... without `val_`). Every `histogram_freq`
//! epochs, per layer and parameter: `LAYER/PARAM` (the weights), `LAYER/PARAM/gradient` (the
//! last step's gradient; not written when plain SGD updates the weights inside backward, which
//! leaves no gradient to read) and `LAYER/activation` (the layer's output on the last batch
//! it saw, the validation's when there is one). With diagnostics on, each sampled step (step =
//! the optimizer step) writes the instruments per layer: `update_ratio/LAYER` (‖Δw‖/‖w‖),
//! `grad_norm/LAYER` (the kernel gradient's norm), `activation_std/LAYER`,
//! `dead_fraction/LAYER` (ReLU units silent over the last window), `saturated_fraction/LAYER`
//! (sigmoid/tanh outputs near a bound) and `non_finite_fraction/LAYER` (when above 0).
//!
//! File format (TensorFlow's `tf.io` record format): each record is the length (u64, little
//! endian), the masked CRC-32C of the length, the bytes of an `Event` protobuf and their
//! masked CRC-32C, where mask(c) = ((c >> 15) | (c << 17)) + 0xa282ead8. The first event holds
//! `file_version = "brain.Event:2"`. The messages below are the few fields of TensorFlow's
//! `event.proto`, `summary.proto` and `histogram.proto` that this writer fills.

use std::io::Write as _;
use std::path::{Path, PathBuf};

use super::{Callback, Control, EpochLogs};
use crate::diagnostics::Diagnostics;
use crate::tensor::Tensor;
use crate::{Error, Result, Sequential};

/// `tensorflow.Event`.
#[derive(Clone, PartialEq, prost::Message)]
pub struct Event {
    /// Seconds since the Unix epoch.
    #[prost(double, tag = "1")]
    pub wall_time: f64,
    /// The step (here the epoch, or the optimizer step for update ratios).
    #[prost(int64, tag = "2")]
    pub step: i64,
    /// `file_version` (first event) or `summary`.
    #[prost(oneof = "EventWhat", tags = "3, 5")]
    pub what: Option<EventWhat>,
}

/// The `what` oneof of `tensorflow.Event`.
#[derive(Clone, PartialEq, prost::Oneof)]
pub enum EventWhat {
    /// `"brain.Event:2"`.
    #[prost(string, tag = "3")]
    FileVersion(String),
    /// Scalars and histograms.
    #[prost(message, tag = "5")]
    Summary(Summary),
}

/// `tensorflow.Summary`.
#[derive(Clone, PartialEq, prost::Message)]
pub struct Summary {
    /// The values.
    #[prost(message, repeated, tag = "1")]
    pub value: Vec<SummaryValue>,
}

/// `tensorflow.Summary.Value`.
#[derive(Clone, PartialEq, prost::Message)]
pub struct SummaryValue {
    /// The tag shown in TensorBoard.
    #[prost(string, tag = "1")]
    pub tag: String,
    /// A scalar or a histogram.
    #[prost(oneof = "SummaryKind", tags = "2, 5")]
    pub value: Option<SummaryKind>,
}

/// The `value` oneof of `tensorflow.Summary.Value`.
#[derive(Clone, PartialEq, prost::Oneof)]
pub enum SummaryKind {
    /// `simple_value`.
    #[prost(float, tag = "2")]
    SimpleValue(f32),
    /// `histo`.
    #[prost(message, tag = "5")]
    Histo(HistogramProto),
}

/// `tensorflow.HistogramProto`: bucket `i` counts the values in (`limit[i-1]`, `limit[i]`].
#[derive(Clone, PartialEq, prost::Message)]
pub struct HistogramProto {
    /// Smallest value.
    #[prost(double, tag = "1")]
    pub min: f64,
    /// Largest value.
    #[prost(double, tag = "2")]
    pub max: f64,
    /// Number of values.
    #[prost(double, tag = "3")]
    pub num: f64,
    /// Σx.
    #[prost(double, tag = "4")]
    pub sum: f64,
    /// Σx².
    #[prost(double, tag = "5")]
    pub sum_squares: f64,
    /// Right edges of the buckets.
    #[prost(double, repeated, tag = "6")]
    pub bucket_limit: Vec<f64>,
    /// Counts per bucket.
    #[prost(double, repeated, tag = "7")]
    pub bucket: Vec<f64>,
}

/// Buckets of a histogram (equal widths between the minimum and the maximum).
const BUCKETS: usize = 30;

impl HistogramProto {
    /// The histogram of `values` (non-finite values are left out).
    pub fn of(values: &[f32]) -> HistogramProto {
        let finite = values.iter().filter(|v| v.is_finite()).map(|&v| v as f64);
        let (mut min, mut max, mut num, mut sum, mut sum_squares) =
            (f64::INFINITY, f64::NEG_INFINITY, 0.0, 0.0, 0.0);
        for v in finite.clone() {
            min = min.min(v);
            max = max.max(v);
            num += 1.0;
            sum += v;
            sum_squares += v * v;
        }
        if num == 0.0 {
            return HistogramProto::default();
        }
        let width = ((max - min) / BUCKETS as f64).max(f64::EPSILON * max.abs().max(1.0));
        let bucket_limit: Vec<f64> = (1..=BUCKETS).map(|i| min + width * i as f64).collect();
        let mut bucket = vec![0.0; BUCKETS];
        for v in finite {
            let i = (((v - min) / width).ceil() as usize).clamp(1, BUCKETS) - 1;
            bucket[i] += 1.0;
        }
        HistogramProto {
            min,
            max,
            num,
            sum,
            sum_squares,
            bucket_limit,
            bucket,
        }
    }
}

/// TensorFlow's masked CRC-32C.
fn masked_crc(bytes: &[u8]) -> u32 {
    let c = crc32c::crc32c(bytes);
    // ((c >> 15) | (c << 17)) + 0xa282ead8
    c.rotate_right(15).wrapping_add(0xa282_ead8)
}

/// One event file, appended record by record.
pub struct EventWriter {
    path: PathBuf,
    file: std::io::BufWriter<std::fs::File>,
}

fn now() -> f64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0.0, |d| d.as_secs_f64())
}

impl EventWriter {
    /// Creates `dir/events.out.tfevents.SECONDS.deeptrain.PID.v2` and writes the version event.
    pub fn create(dir: &Path) -> Result<EventWriter> {
        std::fs::create_dir_all(dir).map_err(|e| Error::io(dir, e))?;
        let path = dir.join(format!(
            "events.out.tfevents.{}.deeptrain.{}.v2",
            now() as u64,
            std::process::id()
        ));
        // A new file: nothing already at the path (a link, a pipe, a device) is opened.
        let file = crate::io::create_new(&path)?;
        let mut writer = EventWriter {
            path,
            file: std::io::BufWriter::new(file),
        };
        writer.write(&Event {
            wall_time: now(),
            step: 0,
            what: Some(EventWhat::FileVersion("brain.Event:2".into())),
        })?;
        Ok(writer)
    }

    /// Appends one event record.
    pub fn write(&mut self, event: &Event) -> Result<()> {
        let data = prost::Message::encode_to_vec(event);
        let len = (data.len() as u64).to_le_bytes();
        let mut record = Vec::with_capacity(data.len() + 16);
        record.extend_from_slice(&len);
        record.extend_from_slice(&masked_crc(&len).to_le_bytes());
        record.extend_from_slice(&data);
        record.extend_from_slice(&masked_crc(&data).to_le_bytes());
        self.file
            .write_all(&record)
            .map_err(|e| Error::io(&self.path, e))
    }

    /// Appends a summary of `values` at `step`.
    pub fn summary(&mut self, step: i64, values: Vec<SummaryValue>) -> Result<()> {
        if values.is_empty() {
            return Ok(());
        }
        self.write(&Event {
            wall_time: now(),
            step,
            what: Some(EventWhat::Summary(Summary { value: values })),
        })
    }

    /// Writes buffered records to the file.
    pub fn flush(&mut self) -> Result<()> {
        self.file.flush().map_err(|e| Error::io(&self.path, e))
    }
}

fn scalar(tag: String, v: f64) -> SummaryValue {
    SummaryValue {
        tag,
        value: Some(SummaryKind::SimpleValue(v as f32)),
    }
}

fn histogram(tag: String, values: &Tensor) -> SummaryValue {
    SummaryValue {
        tag,
        value: Some(SummaryKind::Histo(HistogramProto::of(values.data()))),
    }
}

/// The `tensorboard` callback.
///
/// ```
/// use deeptrain::callbacks::TensorBoard;
///
/// # fn main() -> deeptrain::Result<()> {
/// let dir = std::env::temp_dir().join(format!("deeptrain-doc-tb-{}", std::process::id()));
/// // Keras: TensorBoard(log_dir, histogram_freq=1)
/// let board = TensorBoard::to(&dir)?.histogram_freq(1);
/// assert!(dir.join("train").is_dir());
/// # drop(board);
/// # std::fs::remove_dir_all(&dir).ok();
/// # Ok(())
/// # }
/// ```
pub struct TensorBoard {
    train: EventWriter,
    validation: EventWriter,
    histogram_freq: usize,
    diagnostics: Option<Diagnostics>,
    diagnostics_seen: usize,
}

impl TensorBoard {
    /// Writes into `log_dir/train` and `log_dir/validation`; histograms every `histogram_freq`
    /// epochs (0: none); update ratios from `diagnostics` when given.
    pub fn new(
        log_dir: &Path,
        histogram_freq: usize,
        diagnostics: Option<Diagnostics>,
    ) -> Result<TensorBoard> {
        Ok(TensorBoard {
            train: EventWriter::create(&log_dir.join("train"))?,
            validation: EventWriter::create(&log_dir.join("validation"))?,
            histogram_freq,
            diagnostics,
            diagnostics_seen: 0,
        })
    }
}

impl TensorBoard {
    /// Writes into `log_dir/train` and `log_dir/validation`, no histograms (Keras' default).
    pub fn to(log_dir: &Path) -> Result<TensorBoard> {
        TensorBoard::new(log_dir, 0, None)
    }

    /// Histograms of weights, gradients and activations every `every` epochs (0: none).
    #[must_use]
    pub fn histogram_freq(mut self, every: usize) -> Self {
        self.histogram_freq = every;
        self
    }

    /// Update ratios (‖Δθ‖/‖θ‖ per layer) from the model's diagnostics.
    #[must_use]
    pub fn diagnostics(mut self, diagnostics: Diagnostics) -> Self {
        self.diagnostics = Some(diagnostics);
        self
    }
}

impl Callback for TensorBoard {
    fn on_epoch_end(&mut self, logs: &EpochLogs, model: &mut Sequential) -> Result<Control> {
        let step = logs.epoch as i64;
        let mut train = Vec::new();
        let mut validation = Vec::new();
        for (name, v) in &logs.values {
            match name.strip_prefix("val_") {
                Some(name) => validation.push(scalar(format!("epoch_{name}"), *v)),
                None => train.push(scalar(format!("epoch_{name}"), *v)),
            }
        }
        train.push(scalar("epoch_learning_rate".into(), logs.learning_rate));
        if self.histogram_freq > 0 && (logs.epoch + 1) % self.histogram_freq == 0 {
            for (layer, output) in model.layers().iter().zip(model.last_outputs()) {
                for p in layer.params() {
                    train.push(histogram(format!("{}/{}", layer.name(), p.name), &p.value));
                    if let Some(grad) = p.grad().filter(|_| p.trainable) {
                        train.push(histogram(
                            format!("{}/{}/gradient", layer.name(), p.name),
                            grad,
                        ));
                    }
                }
                if !output.is_empty() {
                    train.push(histogram(format!("{}/activation", layer.name()), output));
                }
            }
        }
        self.train.summary(step, train)?;
        self.validation.summary(step, validation)?;
        if let Some(d) = &self.diagnostics {
            let rows = d.rows();
            for row in rows.iter().skip(self.diagnostics_seen) {
                let instruments = [
                    ("update_ratio", row.update_ratio),
                    ("grad_norm", row.grad_norm),
                    ("activation_std", Some(row.act_std)),
                    ("dead_fraction", row.dead),
                    ("saturated_fraction", row.saturated),
                    (
                        "non_finite_fraction",
                        Some(row.non_finite).filter(|&f| f > 0.0),
                    ),
                ];
                let values: Vec<_> = instruments
                    .into_iter()
                    .filter_map(|(tag, v)| {
                        let v = v.filter(|v| v.is_finite())?;
                        Some(scalar(format!("{tag}/{}", row.name), v))
                    })
                    .collect();
                if !values.is_empty() {
                    self.train.summary(row.step as i64, values)?;
                }
            }
            self.diagnostics_seen = rows.len();
        }
        self.train.flush()?;
        self.validation.flush()?;
        Ok(Control::Continue)
    }
}
