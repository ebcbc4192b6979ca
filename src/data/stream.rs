//! Training rows streamed from disk (`[data] stream = true`, NPY features): a training set
//! larger than memory, read batch by batch through a bounded buffer, with the same shuffle and
//! the same weights and history as the rows in memory.
//!
//! How:
//! 1. The labels file is read whole (4 bytes a row) and the test, class and validation
//!    selections are made on the row numbers and labels alone, as [`super::prepare_shard`]
//!    does: the training part is the same rows, in the same order, as [`super::prepare`]'s.
//! 2. The scaler is fitted in two passes over the training rows read in chunks, in training
//!    order, with the same sums as in memory ([`Scaler::fit_rows`]).
//! 3. The validation and test parts are read into memory (refused, naming the file, when too
//!    large: lower `validation_split` or `test_split`).
//! 4. During training ([`Prefetch`]) a background thread reads each batch's rows with
//!    positioned reads (`pread`, in ascending file order), converts and scales them as
//!    [`Scaler::apply`] does, and hands them over through a few reused buffers; the step
//!    swaps a filled buffer into its batch and returns the batch's old one, so nothing is
//!    copied or allocated per batch.

use std::fs::File;
use std::os::unix::fs::FileExt;
use std::path::{Path, PathBuf};
use std::sync::mpsc::{sync_channel, Receiver, SyncSender};
use std::sync::Arc;
use std::thread::JoinHandle;

use super::label_split::{split_on_labels, LabelSplit};
use super::npy::Kind;
use super::prepare::{scale_parts, Prepared};
use super::{DataSpec, Scaler, TargetKind};
use crate::{io, Error, Result, Tensor};

/// Rows read at once while fitting the scaler.
const FIT_CHUNK: usize = 4096;

/// Batches read ahead of the step (the buffers in flight between the reader and the step).
const PREFETCH: usize = 3;

/// The training rows of an NPY features file, read from disk batch by batch.
#[derive(Clone, Debug)]
pub struct StreamedRows {
    path: PathBuf,
    file: Arc<File>,
    /// Where the values start in the file.
    start: u64,
    kind: Kind,
    big_endian: bool,
    /// The shape of one row, and its values.
    row_shape: Vec<usize>,
    row_len: usize,
    /// The file row of each training row, in training order.
    numbers: Vec<u64>,
    scaler: Scaler,
}

impl StreamedRows {
    /// The number of training rows.
    pub fn rows(&self) -> usize {
        self.numbers.len()
    }

    /// The shape of one sample.
    pub fn row_shape(&self) -> &[usize] {
        &self.row_shape
    }

    /// The features file.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// No rows, shaped as a batch: for checking the shape against a model.
    pub fn empty_batch(&self) -> Tensor {
        let shape: Vec<usize> = std::iter::once(0)
            .chain(self.row_shape.iter().copied())
            .collect();
        Tensor::zeros(&shape)
    }

    /// A reader of batches in the calling thread (evaluation), with its own scratch buffers.
    pub fn reader(&self) -> RowReader<'_> {
        RowReader {
            rows: self,
            sorted: Vec::new(),
            bytes: Vec::new(),
            shape: std::iter::once(0)
                .chain(self.row_shape.iter().copied())
                .collect(),
        }
    }

    /// The rows at `indices` (into these rows), in that order.
    pub(super) fn select(&self, indices: &[usize]) -> StreamedRows {
        StreamedRows {
            numbers: indices.iter().map(|&i| self.numbers[i]).collect(),
            ..self.clone()
        }
    }

    /// Reads the training rows `rows` (indices into the training order) into `out`
    /// (`rows.len() * row_len` values), converted to f32 and unscaled; `sorted` and `bytes`
    /// are scratch buffers kept by the caller.
    fn read_raw(
        &self,
        rows: &[usize],
        out: &mut [f32],
        sorted: &mut Vec<(u64, usize)>,
        bytes: &mut Vec<u8>,
    ) -> Result<()> {
        sorted.clear();
        sorted.extend(
            rows.iter()
                .enumerate()
                .map(|(at, &r)| (self.numbers[r], at)),
        );
        sorted.sort_unstable();
        let row_bytes = self.row_len * self.kind.width();
        // Native-endian f32 rows are read straight into their slot; other kinds through
        // `bytes` and a conversion.
        let in_place = self.kind == Kind::F32 && self.big_endian == cfg!(target_endian = "big");
        if !in_place {
            bytes.resize(row_bytes, 0);
        }
        for &(number, at) in sorted.iter() {
            let position = self.start + number * row_bytes as u64;
            let slot = &mut out[at * self.row_len..(at + 1) * self.row_len];
            let read = if in_place {
                // SAFETY: the slot's f32 values are `row_bytes` initialized bytes, borrowed
                // mutably here, and every bit pattern is a valid f32.
                let slot_bytes = unsafe {
                    std::slice::from_raw_parts_mut(slot.as_mut_ptr().cast::<u8>(), row_bytes)
                };
                self.file.read_exact_at(slot_bytes, position)
            } else {
                self.file.read_exact_at(bytes, position)
            };
            read.map_err(|e| Error::format(&self.path, format!("row {number}: {e}")))?;
            if !in_place {
                decode(self.kind, self.big_endian, bytes, slot);
            }
        }
        Ok(())
    }

    /// Reads, scales and checks the training rows `rows` into `out`.
    fn read_batch(
        &self,
        rows: &[usize],
        out: &mut [f32],
        sorted: &mut Vec<(u64, usize)>,
        bytes: &mut Vec<u8>,
    ) -> Result<()> {
        self.read_raw(rows, out, sorted, bytes)?;
        self.check_finite(rows, out, "is not a finite number")?;
        self.scaler.apply_rows(out, self.row_len.max(1));
        self.check_finite(rows, out, "is finite but overflows f32 when scaled")
    }

    /// An error naming the file row of the first non-finite value in `values`.
    fn check_finite(&self, rows: &[usize], values: &[f32], problem: &str) -> Result<()> {
        // The common case, every value finite, by a scan without early exit, which the compiler
        // vectorizes (a `position` stops per value and stays scalar: it had been 30% of the
        // reader's time); the position only when something is not finite.
        let all_finite = values
            .chunks(1024)
            .all(|chunk| chunk.iter().fold(true, |finite, v| finite & v.is_finite()));
        if all_finite {
            return Ok(());
        }
        match values.iter().position(|v| !v.is_finite()) {
            None => Ok(()),
            Some(i) => Err(Error::format(
                &self.path,
                format!(
                    "row {}: feature {} {problem}",
                    self.numbers[rows[i / self.row_len]],
                    i % self.row_len
                ),
            )),
        }
    }
}

/// Reads batches of [`StreamedRows`] where it is called, reusing its buffers.
pub struct RowReader<'a> {
    rows: &'a StreamedRows,
    sorted: Vec<(u64, usize)>,
    bytes: Vec<u8>,
    shape: Vec<usize>,
}

impl RowReader<'_> {
    /// The rows `rows` (indices into the streamed rows), scaled, in `x`.
    pub fn read_into(&mut self, rows: &[usize], x: &mut Tensor) -> Result<()> {
        self.shape[0] = rows.len();
        x.resize(&self.shape);
        (self.rows).read_batch(rows, x.data_mut(), &mut self.sorted, &mut self.bytes)
    }
}

/// The same rows of the same file, scaled alike.
impl PartialEq for StreamedRows {
    fn eq(&self, other: &Self) -> bool {
        (&self.path, self.start, &self.numbers, &self.scaler)
            == (&other.path, other.start, &other.numbers, &other.scaler)
    }
}

/// Converts one row's bytes to f32, as npyz's reader and `as f32` do for the in-memory rows.
fn decode(kind: Kind, big: bool, bytes: &[u8], out: &mut [f32]) {
    macro_rules! each {
        ($t:ty, $n:literal, $to:expr) => {
            for (v, b) in out.iter_mut().zip(bytes.chunks_exact($n)) {
                let mut raw = [0u8; $n];
                raw.copy_from_slice(b);
                let x = if big {
                    <$t>::from_be_bytes(raw)
                } else {
                    <$t>::from_le_bytes(raw)
                };
                *v = $to(x);
            }
        };
    }
    match kind {
        Kind::F32 => each!(f32, 4, |x: f32| x),
        Kind::F64 => each!(f64, 8, |x: f64| x as f32),
        Kind::I32 => each!(i32, 4, |x: i32| x as f32),
        Kind::I64 => each!(i64, 8, |x: i64| x as f32),
        Kind::U8 => out
            .iter_mut()
            .zip(bytes)
            .for_each(|(v, &b)| *v = f32::from(b)),
        Kind::Bool => out
            .iter_mut()
            .zip(bytes)
            .for_each(|(v, &b)| *v = f32::from(u8::from(b != 0))),
    }
}

/// Prepares the spec's NPY data with the training rows left on disk (see the module docs):
/// the training part's labels in memory with its features in the returned stream (its `x` has
/// no columns), the validation and test parts read and scaled, with `scaler` or with one fitted
/// on the training rows.
pub fn prepare_streamed(spec: &DataSpec, scaler: Option<Scaler>) -> Result<Prepared> {
    let path = Path::new(&spec.dataset);
    if path.extension().and_then(|e| e.to_str()) != Some("npy") {
        return Err(Error::Config(format!(
            "[data] stream = true reads rows by position from a .npy features file; dataset `{}` is not one (remove `stream` to load it into memory)",
            spec.dataset
        )));
    }
    if spec.targets == TargetKind::Inputs {
        return Err(Error::Config(
            "[data] stream = true cannot train an autoencoder (targets = \"inputs\"): its targets would be the whole features in memory".into(),
        ));
    }
    let LabelSplit {
        features,
        train,
        mut validation,
        mut test,
        class_names,
        warnings,
    } = split_on_labels(spec, path, spec.npy_labels()?)?;
    if train.is_empty() {
        return Err(Error::format(path, "the training part has no rows"));
    }
    let (file_path, start, kind, big_endian) = features.raw_layout()?;
    let row_shape = features.shape()[1..].to_vec();
    let mut stream = StreamedRows {
        path: file_path.to_path_buf(),
        file: Arc::new(io::open_regular(file_path)?),
        start,
        kind,
        big_endian,
        row_len: row_shape.iter().product(),
        row_shape,
        numbers: train
            .origin
            .iter()
            .flat_map(|o| &o.numbers)
            .copied()
            .collect(),
        scaler: Scaler::fit(super::Scale::None, &Tensor::default()),
    };
    if stream.numbers.len() != train.len() {
        return Err(Error::Data(
            "the streamed training part lost its row numbers".into(),
        ));
    }
    for part in [validation.as_mut(), test.as_mut()].into_iter().flatten() {
        let numbers = part
            .origin
            .as_ref()
            .map(|o| o.numbers.clone())
            .unwrap_or_default();
        part.x = features.read_rows(&numbers).map_err(|e| match e {
            Error::Format { path, message } => Error::Format {
                path,
                message: format!(
                    "{message} (the validation and test parts are held in memory: lower validation_split or test_split)"
                ),
            },
            e => e,
        })?;
    }
    let scaler = match scaler {
        Some(s) => s,
        None => fit_scaler(spec, &stream)?,
    };
    if !scaler.fits(stream.row_len) {
        return Err(Error::format(
            path,
            format!(
                "the scaler has {} features, the rows {}",
                scaler.offset.len(),
                stream.row_len
            ),
        ));
    }
    stream.scaler = scaler.clone();
    scale_parts(spec, &scaler, validation.iter_mut().chain(test.iter_mut()))?;
    let mut train = train;
    train.stream = Some(Arc::new(stream));
    Ok(Prepared {
        train,
        validation,
        test,
        scaler,
        class_names,
        warnings,
        shard: None,
    })
}

/// The spec's scaler fitted on the streamed training rows, read in chunks in training order.
fn fit_scaler(spec: &DataSpec, stream: &StreamedRows) -> Result<Scaler> {
    let f = stream.row_len.max(1);
    let rows: Vec<usize> = (0..stream.rows()).collect();
    let mut chunk = crate::limits::vec_with_capacity::<f32>(&stream.path, FIT_CHUNK * f)?;
    chunk.resize(FIT_CHUNK * f, 0.0);
    let (mut sorted, mut bytes) = (Vec::new(), Vec::new());
    let visit = |each: &mut dyn FnMut(&[f32])| -> Result<()> {
        for part in rows.chunks(FIT_CHUNK) {
            let out = &mut chunk[..part.len() * f];
            stream.read_raw(part, out, &mut sorted, &mut bytes)?;
            stream.check_finite(part, out, "is not a finite number")?;
            out.chunks_exact(f).for_each(&mut *each);
        }
        Ok(())
    };
    let scaler = Scaler::fit_rows(spec.scale, f, stream.rows(), visit, None)?;
    scaler
        .checked()
        .map_err(|e| Error::format(&stream.path, e.detail()))
}

/// What the reader hands the step: a filled buffer, or why it could not fill it.
type Filled = Result<Vec<f32>>;

/// The background reader of one `fit`'s streamed batches: given an epoch's order, it reads
/// each batch (`batch` rows of the order in turn) ahead of the step into one of three
/// buffers allocated here, so that the steady state allocates nothing and, while the disk
/// keeps up, the step never waits.
pub struct Prefetch {
    epochs: Option<SyncSender<Vec<usize>>>,
    free: Option<SyncSender<Vec<f32>>>,
    full: Receiver<Filled>,
    worker: Option<JoinHandle<()>>,
    /// The batch's shape, its first axis set per batch.
    shape: Vec<usize>,
    row_len: usize,
}

impl Prefetch {
    /// Starts the reader of `rows` in batches of at most `batch` rows.
    pub fn start(rows: Arc<StreamedRows>, batch: usize) -> Result<Prefetch> {
        let row_len = rows.row_len;
        let batch = batch.clamp(1, rows.rows().max(1));
        let (epochs, epoch_orders) = sync_channel::<Vec<usize>>(1);
        let (free, free_buffers) = sync_channel::<Vec<f32>>(PREFETCH);
        let (filled, full) = sync_channel::<Filled>(PREFETCH);
        for _ in 0..PREFETCH {
            let buffer = crate::limits::vec_with_capacity::<f32>(&rows.path, batch * row_len)?;
            free.send(buffer)
                .map_err(|_| Error::Data("the streaming reader stopped".into()))?;
        }
        let shape = std::iter::once(0)
            .chain(rows.row_shape.iter().copied())
            .collect();
        let worker = std::thread::Builder::new()
            .name("deeptrain-stream".into())
            .spawn(move || read_ahead(&rows, batch, &epoch_orders, &free_buffers, &filled))
            .map_err(|e| Error::Data(format!("cannot start the streaming reader: {e}")))?;
        Ok(Prefetch {
            epochs: Some(epochs),
            free: Some(free),
            full,
            worker: Some(worker),
            shape,
            row_len,
        })
    }

    /// Starts reading the epoch whose training rows are `order`, batch by batch.
    pub fn begin_epoch(&mut self, order: &[usize]) -> Result<()> {
        let sent = self.epochs.as_ref().map(|e| e.send(order.to_vec()));
        match sent {
            Some(Ok(())) => Ok(()),
            _ => Err(self.stopped()),
        }
    }

    /// The next batch (of `rows` rows) of the epoch, scaled, in `x`.
    pub fn next_into(&mut self, rows: usize, x: &mut Tensor) -> Result<()> {
        let mut buffer = match self.full.recv() {
            Ok(filled) => filled?,
            Err(_) => return Err(self.stopped()),
        };
        if buffer.len() != rows * self.row_len {
            return Err(Error::Data(format!(
                "the streaming reader read {} values for a batch of {rows} rows",
                buffer.len()
            )));
        }
        self.shape[0] = rows;
        x.resize(&self.shape);
        // The filled buffer becomes the batch, and the batch's old buffer goes back to the
        // reader (every buffer holds a whole batch, so the reader's resize never allocates).
        x.swap_data(&mut buffer);
        match self.free.as_ref().map(|f| f.send(buffer)) {
            Some(Ok(())) => Ok(()),
            _ => Err(self.stopped()),
        }
    }

    /// The reader's error when it stopped early: the error it queued behind batches it had
    /// already read (a bad row found while reading ahead, which ends the reader before the
    /// step reaches that batch), or a panic in it, which the join reports.
    fn stopped(&mut self) -> Error {
        self.epochs.take();
        self.free.take();
        let joined = self.worker.take().map(JoinHandle::join);
        while let Ok(filled) = self.full.try_recv() {
            if let Err(e) = filled {
                return e;
            }
        }
        match joined {
            Some(Err(_)) => Error::Data("the streaming reader failed".into()),
            _ => Error::Data("the streaming reader stopped".into()),
        }
    }
}

impl Drop for Prefetch {
    /// Closes the channels (the reader then ends wherever it waits) and waits for the reader.
    fn drop(&mut self) {
        self.epochs.take();
        self.free.take();
        if let Some(worker) = self.worker.take() {
            let _ = worker.join();
        }
    }
}

/// The reader's loop: for each epoch's order, fills a free buffer with each batch in turn.
/// Ends when the step closes a channel, or after sending an error.
fn read_ahead(
    rows: &StreamedRows,
    batch: usize,
    epochs: &Receiver<Vec<usize>>,
    free: &Receiver<Vec<f32>>,
    full: &SyncSender<Filled>,
) {
    let mut sorted = Vec::with_capacity(batch);
    let mut bytes = Vec::new();
    while let Ok(order) = epochs.recv() {
        for chunk in order.chunks(batch) {
            let Ok(mut buffer) = free.recv() else {
                return;
            };
            buffer.resize(chunk.len() * rows.row_len, 0.0);
            let filled = rows
                .read_batch(chunk, &mut buffer, &mut sorted, &mut bytes)
                .map(|()| buffer);
            let failed = filled.is_err();
            if full.send(filled).is_err() || failed {
                return;
            }
        }
    }
}
