//! `deeptrain._core`: the Rust library as a Python extension module (PyO3, abi3). The Python
//! package `deeptrain` (and its Keras layer, `deeptrain.keras`) sits on these few entry points:
//!
//! - [`PyModel`]: a built model, made from a spec (the TOML spec's tables, sent as JSON), so that
//!   a Keras model and a `deeptrain train` spec go through the same parser and builder;
//!   `fit` releases the GIL and runs the library's own loop, Python callbacks called from it.
//! - [`train`]: `deeptrain train`'s experiment from a spec file; [`prepare`]: the spec's data
//!   as the command prepares it; [`fashion_mnist`] and [`digits`]: the data sets, as arrays.
//!
//! Arrays come in as float32 C-contiguous numpy arrays (the Python side converts without a copy
//! when they already are) and are copied once into the library's tensors; arrays going out
//! (predictions, weights) hand their buffer to numpy without a copy.

mod py_layer;

use std::path::Path;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant};

use deeptrain::callbacks::{
    BatchEnd, Callback, CallbackSpec, Control, CsvLogger, EarlyStopping, EpochLogs, History,
    ModelCheckpoint, Monitor, Progress, TensorBoard, TrainBegin,
};
use deeptrain::model::Weights;
use deeptrain::spec::Spec;
use deeptrain::{report, Dataset, Error, Experiment, FitOptions, LayerSpec, Sequential, Tensor};
use numpy::{PyArray1, PyArrayDyn, PyArrayMethods, PyReadonlyArrayDyn, PyUntypedArrayMethods};
use pyo3::exceptions::{
    PyFloatingPointError, PyKeyboardInterrupt, PyOSError, PyRuntimeError, PyValueError,
};
use pyo3::prelude::*;
use pyo3::types::PyDict;

/// How often training looks for a pending Ctrl-C (Python's signal handlers run only when the
/// interpreter is asked).
const SIGNAL_CHECK: Duration = Duration::from_millis(100);

/// The library's error as the Python exception a Keras user expects.
fn to_py(e: Error) -> PyErr {
    let message = e.to_string();
    match e {
        Error::Io { .. } => PyOSError::new_err(message),
        Error::Interrupted { .. } => PyKeyboardInterrupt::new_err(message),
        Error::Diverged(_) => PyFloatingPointError::new_err(message),
        Error::Stopped(_) => PyRuntimeError::new_err(message),
        _ => PyValueError::new_err(message),
    }
}

/// A spec sent as JSON (the TOML spec's tables: `layers`, `compile`, `optimizer`, ...), read
/// by the same parser as a spec file, its errors naming `source`.
fn spec_from_json(json: &str, source: &str) -> PyResult<Spec> {
    let value: serde_json::Value =
        serde_json::from_str(json).map_err(|e| PyValueError::new_err(e.to_string()))?;
    let value = toml::Value::try_from(value)
        .map_err(|e| PyValueError::new_err(format!("{source}: {e}")))?;
    let text = toml::to_string(&value).map_err(|e| PyValueError::new_err(e.to_string()))?;
    Spec::parse(&text, Path::new(source)).map_err(to_py)
}

/// A float32 array as a tensor (one copy).
fn tensor(x: &PyReadonlyArrayDyn<f32>) -> Tensor {
    let shape = x.shape().to_vec();
    let data = match x.as_slice() {
        Ok(slice) => slice.to_vec(),
        Err(_) => x.as_array().iter().copied().collect(),
    };
    Tensor::from_vec(data, &shape)
}

/// A tensor as a numpy array that owns its buffer (no copy).
fn array(py: Python<'_>, t: Tensor) -> PyResult<Bound<'_, PyArrayDyn<f32>>> {
    let shape = t.shape().to_vec();
    PyArray1::from_vec(py, t.into_vec()).reshape(shape)
}

/// Features and labels (and per-sample weights) as a dataset.
fn dataset(
    x: &PyReadonlyArrayDyn<f32>,
    y: &PyReadonlyArrayDyn<f32>,
    weights: Option<&PyReadonlyArrayDyn<f32>>,
) -> PyResult<Dataset> {
    let mut data = Dataset::new(tensor(x), tensor(y)).map_err(to_py)?;
    if let Some(w) = weights {
        let w = w.as_array().iter().copied().collect::<Vec<f32>>();
        if w.len() != data.len() {
            return Err(PyValueError::new_err(format!(
                "sample_weight has {} values for {} samples",
                w.len(),
                data.len()
            )));
        }
        data.weights = Some(w);
    }
    Ok(data)
}

/// A model (Keras' `Model` underneath `deeptrain.keras`).
#[pyclass(module = "deeptrain._core", name = "Model")]
struct PyModel {
    model: Mutex<Sequential>,
}

impl PyModel {
    fn new(model: Sequential) -> Self {
        PyModel {
            model: Mutex::new(model),
        }
    }

    /// The model, or an error while `fit` holds it (a callback must go through its
    /// arguments).
    fn lock(&self) -> PyResult<MutexGuard<'_, Sequential>> {
        self.model.try_lock().map_err(|_| {
            PyRuntimeError::new_err("the model is training: a callback reads it through self.model's attributes, not the model's methods")
        })
    }
}

/// Compiles `model` as `deeptrain train` does: the spec's optimizer, loss, metrics and
/// schedule.
fn compile(model: &mut Sequential, spec: &Spec) -> PyResult<()> {
    let optimizer = spec.optimizer.build().map_err(to_py)?;
    model
        .compile(optimizer, spec.compile.loss, &spec.compile.metrics)
        .map_err(to_py)?;
    model
        .set_weighted_metrics(&spec.compile.weighted_metrics)
        .map_err(to_py)?;
    model.set_schedule(spec.schedule.clone()).map_err(to_py)
}

/// One epoch's logs as Python values: (epoch, [(name, value)], learning rate, seconds).
type EpochTuple = (usize, Vec<(String, f64)>, f64, f64);

/// A layer as Python sees it: (name, Keras class name, trainable parameters, non-trainable
/// ones, whether it trains).
type LayerInfo = (String, String, usize, usize, bool);

/// A range test's result: (points (rate, loss, smoothed loss), best, turning, suggested rate,
/// diverged).
type LrFound = (Vec<(f64, f64, f64)>, f64, f64, f64, bool);

/// Validation data: features, labels, sample weights.
type Validation<'py> = (
    PyReadonlyArrayDyn<'py, f32>,
    PyReadonlyArrayDyn<'py, f32>,
    Option<PyReadonlyArrayDyn<'py, f32>>,
);

fn epochs(history: &History) -> Vec<EpochTuple> {
    history
        .epochs
        .iter()
        .map(|e| (e.epoch, e.values.clone(), e.learning_rate, e.seconds))
        .collect()
}

#[pymethods]
impl PyModel {
    /// Builds the model a spec (JSON of the TOML tables) describes on samples of
    /// `input_shape`, weights from the spec's `seed`, and (when `compiled`) compiles it with
    /// the spec's optimizer, loss, metrics and schedule.
    #[staticmethod]
    #[pyo3(signature = (spec_json, input_shape, compiled=true))]
    fn build(spec_json: &str, input_shape: Vec<usize>, compiled: bool) -> PyResult<Self> {
        let spec = spec_from_json(spec_json, "model")?;
        let model = spec.build_model(&input_shape, None);
        if let Some(e) = py_layer::take_pending() {
            return Err(e);
        }
        let mut model = model.map_err(to_py)?;
        if compiled {
            compile(&mut model, &spec)?;
        }
        Ok(PyModel::new(model))
    }

    /// Per layer, its weights' names and whether each trains, in `get_weights` order
    /// (parameters, then non-trainable state such as a batch norm's moving statistics).
    fn weight_names(&self) -> PyResult<Vec<Vec<(String, bool)>>> {
        let model = self.lock()?;
        Ok(model
            .layers()
            .iter()
            .map(|l| {
                let params = l.params().iter().map(|p| (p.name.to_string(), p.trainable));
                params
                    .chain(l.state().iter().map(|s| (s.name.to_string(), false)))
                    .collect()
            })
            .collect())
    }

    /// Compiles again with a spec's optimizer, loss, metrics and schedule (its layers are
    /// only checked).
    fn compile(&self, spec_json: &str) -> PyResult<()> {
        let spec = spec_from_json(spec_json, "compile")?;
        compile(&mut *self.lock()?, &spec)
    }

    /// Loads a saved model directory (`model.save`, or a `deeptrain train` run's `model/`).
    #[staticmethod]
    fn load(path: &str) -> PyResult<Self> {
        let (model, _) = Sequential::load(Path::new(path)).map_err(to_py)?;
        Ok(PyModel::new(model))
    }

    /// Saves the model (its spec, weights, optimizer) into directory `path`.
    fn save(&self, path: &str) -> PyResult<()> {
        self.lock()?.save(Path::new(path)).map_err(to_py)
    }

    /// The layers' specs as JSON (Keras' `get_config`), for `clone_model`.
    fn layers_json(&self) -> PyResult<String> {
        let specs: Vec<LayerSpec> = self.lock()?.layer_specs();
        serde_json::to_string(&specs).map_err(|e| PyValueError::new_err(e.to_string()))
    }

    /// Keras' `summary()` text.
    fn summary(&self) -> PyResult<String> {
        Ok(self.lock()?.summary())
    }

    /// (trainable, non-trainable) parameter counts.
    fn count_params(&self) -> PyResult<(usize, usize)> {
        Ok(self.lock()?.count_params())
    }

    /// The per-sample input shape.
    fn input_shape(&self) -> PyResult<Vec<usize>> {
        Ok(self.lock()?.input_shape().to_vec())
    }

    /// The per-sample shape of every layer's output.
    fn output_shapes(&self) -> PyResult<Vec<Vec<usize>>> {
        Ok(self.lock()?.output_shapes().to_vec())
    }

    /// Per layer: (name, Keras class name, trainable parameters, non-trainable ones, whether
    /// it trains).
    fn layer_info(&self) -> PyResult<Vec<LayerInfo>> {
        let model = self.lock()?;
        Ok(model
            .layers()
            .iter()
            .map(|l| {
                let (trainable, frozen) = l.param_counts();
                let trains = l.params().iter().all(|p| p.trainable);
                (
                    l.name().to_string(),
                    l.class_name().to_string(),
                    trainable,
                    frozen,
                    trains,
                )
            })
            .collect())
    }

    /// Freezes (false) or unfreezes layer `index`.
    fn set_trainable(&self, index: usize, trainable: bool) -> PyResult<()> {
        let mut model = self.lock()?;
        let n = model.layers().len();
        if index >= n {
            return Err(PyValueError::new_err(format!(
                "layer {index} of a model with {n} layers"
            )));
        }
        model.set_trainable(index..index + 1, trainable);
        Ok(())
    }

    /// Every layer's weights and state, as arrays (Keras' `get_weights`, per layer).
    fn get_weights<'py>(&self, py: Python<'py>) -> PyResult<Vec<Vec<Bound<'py, PyArrayDyn<f32>>>>> {
        let Weights(layers) = self.lock()?.weights();
        layers
            .into_iter()
            .map(|tensors| tensors.into_iter().map(|t| array(py, t)).collect())
            .collect()
    }

    /// Sets every layer's weights (as `get_weights` gives them); shapes must match.
    fn set_weights(&self, layers: Vec<Vec<PyReadonlyArrayDyn<f32>>>) -> PyResult<()> {
        let mut model = self.lock()?;
        let Weights(current) = model.weights();
        if current.len() != layers.len() {
            return Err(PyValueError::new_err(format!(
                "set_weights got weights for {} layers; the model has {}",
                layers.len(),
                current.len()
            )));
        }
        let mut new = Vec::with_capacity(layers.len());
        for (i, (have, given)) in current.iter().zip(&layers).enumerate() {
            if have.len() != given.len() {
                return Err(PyValueError::new_err(format!(
                    "set_weights: layer {i} has {} weight arrays, got {}",
                    have.len(),
                    given.len()
                )));
            }
            let mut tensors = Vec::with_capacity(given.len());
            for (j, (h, g)) in have.iter().zip(given).enumerate() {
                if h.shape() != g.shape() {
                    return Err(PyValueError::new_err(format!(
                        "set_weights: layer {i}, array {j} has shape {:?}, got {:?}",
                        h.shape(),
                        g.shape()
                    )));
                }
                tensors.push(tensor(g));
            }
            new.push(tensors);
        }
        model.set_weights(&Weights(new));
        Ok(())
    }

    /// The optimizer's learning rate (None before compiling).
    fn learning_rate(&self) -> PyResult<Option<f32>> {
        Ok(self.lock()?.optimizer().map(|o| o.learning_rate()))
    }

    /// Sets the optimizer's learning rate.
    fn set_learning_rate(&self, lr: f32) -> PyResult<()> {
        if !(lr.is_finite() && lr >= 0.0) {
            return Err(PyValueError::new_err(format!(
                "learning_rate must be a finite number >= 0, got {lr}"
            )));
        }
        match self.lock()?.optimizer_mut() {
            Some(o) => {
                o.set_learning_rate(lr);
                Ok(())
            }
            None => Err(PyValueError::new_err("compile the model first")),
        }
    }

    /// Optimizer steps taken (Keras' `optimizer.iterations`).
    fn iterations(&self) -> PyResult<u64> {
        Ok(self.lock()?.optimizer().map_or(0, |o| o.iterations()))
    }

    /// Whether a schedule sets the learning rate.
    fn has_schedule(&self) -> PyResult<bool> {
        Ok(self.lock()?.schedule().is_some())
    }

    /// Outputs for `x` in inference mode (Keras' `predict`), the GIL released.
    fn predict<'py>(
        &self,
        py: Python<'py>,
        x: PyReadonlyArrayDyn<f32>,
        batch_size: usize,
    ) -> PyResult<Bound<'py, PyArrayDyn<f32>>> {
        let x = tensor(&x);
        let mut model = self.lock()?;
        let model = &mut *model;
        let out = py.detach(move || model.predict(&x, batch_size.max(1)));
        raise_layer_error()?;
        array(py, out.map_err(to_py)?)
    }

    /// One pass in training mode (dropout on: Keras' `model(x, training=True)`, MC dropout),
    /// its random masks drawn from `seed`.
    fn call_training<'py>(
        &self,
        py: Python<'py>,
        x: PyReadonlyArrayDyn<f32>,
        batch_size: usize,
        seed: u64,
    ) -> PyResult<Bound<'py, PyArrayDyn<f32>>> {
        let x = tensor(&x);
        let mut model = self.lock()?;
        let model = &mut *model;
        let out = py.detach(move || model.predict_mc(&x, 1, batch_size.max(1), seed));
        raise_layer_error()?;
        array(py, out.map_err(to_py)?.0)
    }

    /// The learning-rate range test on (x, y) (`deeptrain lr-find`): rates growing
    /// exponentially from `min_lr` to `max_lr` over `steps` steps; the model is restored
    /// afterwards. Returns (points (rate, loss, smoothed loss), best, turning, suggested rate,
    /// diverged).
    #[allow(clippy::too_many_arguments)]
    #[pyo3(signature = (x, y, min_lr, max_lr, steps, batch_size))]
    fn lr_find(
        &self,
        py: Python<'_>,
        x: PyReadonlyArrayDyn<f32>,
        y: PyReadonlyArrayDyn<f32>,
        min_lr: f64,
        max_lr: f64,
        steps: Option<usize>,
        batch_size: usize,
    ) -> PyResult<LrFound> {
        let data = dataset(&x, &y, None)?;
        let options = deeptrain::model::LrFindOptions {
            min_lr,
            max_lr,
            steps,
            batch_size,
            ..Default::default()
        };
        let mut model = self.lock()?;
        let model = &mut *model;
        let r = py
            .detach(move || model.lr_range_test(&data, &options))
            .map_err(to_py)?;
        Ok((
            r.points,
            r.best_lr,
            r.turning_lr,
            r.suggested_lr,
            r.diverged,
        ))
    }

    /// Loss and metrics on (x, y) (Keras' `evaluate`), as (name, value) pairs.
    #[pyo3(signature = (x, y, batch_size, sample_weight=None))]
    fn evaluate(
        &self,
        py: Python<'_>,
        x: PyReadonlyArrayDyn<f32>,
        y: PyReadonlyArrayDyn<f32>,
        batch_size: usize,
        sample_weight: Option<PyReadonlyArrayDyn<f32>>,
    ) -> PyResult<Vec<(String, f64)>> {
        let data = dataset(&x, &y, sample_weight.as_ref())?;
        let mut model = self.lock()?;
        let model = &mut *model;
        let out = py.detach(move || model.evaluate(&data, batch_size.max(1)));
        raise_layer_error()?;
        out.map_err(to_py)
    }

    /// Writes `history.csv`, `plots/`, `report.html` and `model/` into `dir` for a fit whose
    /// epochs are `epochs`: the final metrics are the last epoch's training ones and, when
    /// `validation` is given, an evaluation on it (with the per-class table of a classifier).
    /// Returns the paths written.
    #[allow(clippy::too_many_arguments)]
    #[pyo3(signature = (dir, epochs, title, spec_text, fit_seconds, train_rows, validation=None))]
    fn write_report(
        &self,
        py: Python<'_>,
        dir: &str,
        epochs: Vec<EpochTuple>,
        title: &str,
        spec_text: &str,
        fit_seconds: f64,
        train_rows: usize,
        validation: Option<(PyReadonlyArrayDyn<'_, f32>, PyReadonlyArrayDyn<'_, f32>)>,
    ) -> PyResult<Vec<String>> {
        let history = History {
            epochs: epochs
                .into_iter()
                .map(|(epoch, values, learning_rate, seconds)| EpochLogs {
                    epoch,
                    values,
                    learning_rate,
                    seconds,
                })
                .collect(),
        };
        let validation = match &validation {
            Some((x, y)) => Some(dataset(x, y, None)?),
            None => None,
        };
        let mut model = self.lock()?;
        let model = &mut *model;
        let out = Path::new(dir);
        let written = py.detach(|| -> deeptrain::Result<Vec<String>> {
            let plots_dir = out.join("plots");
            std::fs::create_dir_all(&plots_dir).map_err(|e| Error::io(&plots_dir, e))?;
            history.write_csv(&out.join("history.csv"))?;
            model.save(&out.join("model"))?;
            let plots = report::write_plots(&plots_dir, &history, &[])?;
            let last: Vec<(String, f64)> = history.epochs.last().map_or(Vec::new(), |e| {
                e.values
                    .iter()
                    .filter(|(n, _)| !n.starts_with("val_"))
                    .cloned()
                    .collect()
            });
            let mut metrics = vec![("train (last epoch)".to_string(), last)];
            let mut classes = None;
            if let Some(v) = &validation {
                metrics.push(("validation".to_string(), model.evaluate(v, 1024)?));
                classes = report::class_report(model, v, None)?;
            }
            let trained = history.epochs.len();
            let rate = (train_rows * trained) as f64 / fit_seconds.max(1e-9);
            let summary = model.summary();
            let page = out.join("report.html");
            report::write_report(
                &page,
                &report::ReportContent {
                    title,
                    spec: spec_text,
                    summary: &summary,
                    metrics,
                    history: &history,
                    warnings: Vec::new(),
                    healthy: Vec::new(),
                    evidence: Vec::new(),
                    plots: &plots,
                    run: report::run_facts(trained, trained, fit_seconds, rate),
                    classes: classes.as_ref().map(|c| ("validation", c)),
                },
            )?;
            let mut paths = vec![out.join("history.csv"), out.join("model"), page];
            paths.extend(plots);
            Ok(paths.iter().map(|p| p.display().to_string()).collect())
        });
        raise_layer_error()?;
        written.map_err(to_py)
    }

    /// Trains (Keras' `fit`) with the library's loop, the GIL released; `callbacks_json` lists
    /// the built-in callbacks (the spec's `[[callbacks]]` tables), `dispatcher` receives the
    /// Python callbacks' events. Returns the epochs' logs.
    #[allow(clippy::too_many_arguments)]
    #[pyo3(signature = (x, y, validation, epochs, batch_size, shuffle, validation_split, initial_epoch, sample_weight, class_weight, callbacks_json, dispatcher, verbose, run_dir))]
    fn fit(
        &self,
        py: Python<'_>,
        x: PyReadonlyArrayDyn<f32>,
        y: PyReadonlyArrayDyn<f32>,
        validation: Option<Validation<'_>>,
        epochs: usize,
        batch_size: usize,
        shuffle: bool,
        validation_split: f64,
        initial_epoch: usize,
        sample_weight: Option<PyReadonlyArrayDyn<f32>>,
        class_weight: Option<Vec<f32>>,
        callbacks_json: &str,
        dispatcher: Option<Py<PyAny>>,
        verbose: u8,
        run_dir: &str,
    ) -> PyResult<Vec<EpochTuple>> {
        let train = dataset(&x, &y, sample_weight.as_ref())?;
        let validation = match &validation {
            Some((vx, vy, vw)) => Some(dataset(vx, vy, vw.as_ref())?),
            None => None,
        };
        // Each a `[[callbacks]]` table, with Keras' `verbose` beside it.
        let tables: Vec<serde_json::Map<String, serde_json::Value>> =
            serde_json::from_str(callbacks_json)
                .map_err(|e| PyValueError::new_err(format!("callbacks: {e}")))?;
        let mut specs = Vec::with_capacity(tables.len());
        let mut loud = Vec::with_capacity(tables.len());
        for mut table in tables {
            loud.push(table.remove("verbose").and_then(|v| v.as_bool()) == Some(true));
            specs.push(
                serde_json::from_value::<CallbackSpec>(serde_json::Value::Object(table))
                    .map_err(|e| PyValueError::new_err(format!("callbacks: {e}")))?,
            );
        }
        let mut model = self.lock()?;
        let model = &mut *model;
        // Keras' ReduceLROnPlateau is the library's on-plateau schedule, for this fit only.
        let mut plateau = None;
        for c in &specs {
            if let Some(schedule) = c.plateau_schedule() {
                if model.schedule().is_some() || plateau.is_some() {
                    return Err(PyValueError::new_err(
                        "ReduceLROnPlateau and a learning-rate schedule both set the rate: keep one",
                    ));
                }
                plateau = Some(schedule.map_err(to_py)?);
            }
        }
        let restore_schedule = plateau.is_some();
        if let Some(schedule) = plateau {
            schedule.validate().map_err(to_py)?;
            model.set_schedule(Some(schedule)).map_err(to_py)?;
        }
        let stop = Arc::new(AtomicBool::new(false));
        // Per-step calls only for the hooks some Python callback overrides.
        let wants = |hook: &str| -> PyResult<bool> {
            match &dispatcher {
                Some(d) => d.bind(py).getattr(hook)?.is_truthy(),
                None => Ok(false),
            }
        };
        let mut bridge = Bridge {
            batch_begin: wants("wants_batch_begin")?,
            batch_end: wants("wants_batch_end")?,
            dispatcher,
            error: None,
            stop: stop.clone(),
            checked: Instant::now(),
            pending_lr: None,
            stop_after_batch: false,
            verbose: verbose == 1,
        };
        let mut progress = (verbose > 0).then(Progress::new);
        let options = FitOptions {
            epochs,
            batch_size,
            validation_split,
            shuffle,
            stop: Some(stop),
            initial_epoch,
            class_weight,
            ..FitOptions::default()
        };
        let result = py.detach(|| {
            let mut builtins = builtin_callbacks(&specs, &loud, Path::new(run_dir))?;
            let mut all: Vec<&mut dyn Callback> = Vec::new();
            all.push(&mut bridge);
            for c in builtins.iter_mut() {
                all.push(c.as_mut());
            }
            if let Some(p) = progress.as_mut() {
                all.push(p);
            }
            model.fit(&train, validation.as_ref(), &options, &mut all)
        });
        if restore_schedule {
            // The rate the plateau reached (a reduction after the last epoch included), kept
            // as Keras' callback leaves it.
            let lr = model.schedule().map(|s| s.at(0, 0).0 as f32);
            model.set_schedule(None).map_err(to_py)?;
            if let (Some(lr), Some(o)) = (lr, model.optimizer_mut()) {
                o.set_learning_rate(lr);
            }
        }
        raise_layer_error()?;
        if let Some(e) = bridge.error.take() {
            return Err(e);
        }
        Ok(epochs_of(result.map_err(to_py)?))
    }
}

/// The exception a Python layer raised during the last engine call, if any.
fn raise_layer_error() -> PyResult<()> {
    match py_layer::take_pending() {
        Some(e) => Err(e),
        None => Ok(()),
    }
}

fn epochs_of(history: History) -> Vec<EpochTuple> {
    epochs(&history)
}

/// The built-in callbacks a spec's `[[callbacks]]` tables name, writing under `dir`; `loud`
/// says which may print (Keras' `verbose`).
fn builtin_callbacks(
    specs: &[CallbackSpec],
    loud: &[bool],
    dir: &Path,
) -> deeptrain::Result<Vec<Box<dyn Callback>>> {
    let mut callbacks: Vec<Box<dyn Callback>> = Vec::new();
    for (c, &loud) in specs.iter().zip(loud) {
        let mut callback: Box<dyn Callback> = match c {
            CallbackSpec::EarlyStopping {
                monitor,
                mode,
                min_delta,
                patience,
                restore_best_weights,
            } => Box::new(EarlyStopping::new(
                Monitor::new(monitor, *mode, *min_delta),
                *patience,
                *restore_best_weights,
            )),
            CallbackSpec::TerminateOnNan {} => {
                Box::new(deeptrain::callbacks::TerminateOnNan::default())
            }
            CallbackSpec::ModelCheckpoint {
                monitor,
                mode,
                save_best_only,
                path,
            } => Box::new(ModelCheckpoint::new(
                path.clone().unwrap_or_else(|| dir.join("checkpoint")),
                save_best_only.then(|| Monitor::new(monitor, *mode, 0.0)),
                None,
            )),
            // The schedule `fit` attached.
            CallbackSpec::ReduceLrOnPlateau(_) => continue,
            CallbackSpec::Tensorboard {
                log_dir,
                histogram_freq,
            } => Box::new(TensorBoard::new(
                &dir.join(log_dir.as_deref().unwrap_or(Path::new("logs"))),
                *histogram_freq,
                None,
            )?),
            CallbackSpec::CsvLogger { filename, append } => Box::new(CsvLogger::new(
                dir.join(filename.as_deref().unwrap_or(Path::new("log.csv"))),
                *append,
            )),
        };
        callback.set_verbose(loud);
        callbacks.push(callback);
    }
    Ok(callbacks)
}

/// The Python side of `fit`: forwards the library's events to the Python dispatcher (which
/// calls the Keras callbacks), carries the learning rate they set back to the optimizer and
/// their `stop_training` back to the loop, and looks for Ctrl-C between steps.
struct Bridge {
    dispatcher: Option<Py<PyAny>>,
    /// Whether a Python callback has a per-step hook (`on_train_batch_begin`, `…_end`): the
    /// steps call into Python only then.
    batch_begin: bool,
    batch_end: bool,
    /// The first Python exception (a callback's, or KeyboardInterrupt): raised after `fit`.
    error: Option<PyErr>,
    /// Set to stop the loop before its next step.
    stop: Arc<AtomicBool>,
    checked: Instant,
    /// A rate set by a callback outside a step with the model at hand.
    pending_lr: Option<f32>,
    stop_after_batch: bool,
    verbose: bool,
}

/// What a dispatcher call returns: (the learning rate a callback set, or None; whether a
/// callback set `stop_training`).
type Reply = (Option<f32>, bool);

impl Bridge {
    /// Keeps the first Python error and stops training.
    fn fail(&mut self, e: PyErr) {
        if self.error.is_none() {
            self.error = Some(e);
        }
        self.stop.store(true, Ordering::Relaxed);
    }

    /// Calls the dispatcher's `method` with `args`; its reply, or none on error (kept).
    fn call<'py, A>(&mut self, py: Python<'py>, method: &str, args: A) -> Option<Reply>
    where
        A: pyo3::call::PyCallArgs<'py>,
    {
        let dispatcher = self.dispatcher.as_ref()?.bind(py).clone();
        match dispatcher
            .call_method1(method, args)
            .and_then(|r| r.extract::<Reply>())
        {
            Ok(reply) => Some(reply),
            Err(e) => {
                self.fail(e);
                None
            }
        }
    }

    /// Runs Python's signal handlers now and then (every step when callbacks run anyway).
    fn check_signals(&mut self, py: Python<'_>) {
        self.checked = Instant::now();
        if let Err(e) = py.check_signals() {
            self.fail(e);
        }
    }

    fn take(&mut self, reply: Option<Reply>) {
        if let Some((lr, stop)) = reply {
            if lr.is_some() {
                self.pending_lr = lr;
            }
            self.stop_after_batch |= stop;
        }
    }

    fn apply_lr(&mut self, model: &mut Sequential) {
        if let (Some(lr), Some(o)) = (self.pending_lr.take(), model.optimizer_mut()) {
            o.set_learning_rate(lr);
        }
    }
}

fn logs_dict<'py>(py: Python<'py>, values: &[(String, f64)]) -> PyResult<Bound<'py, PyDict>> {
    let d = PyDict::new(py);
    for (k, v) in values {
        d.set_item(k, v)?;
    }
    Ok(d)
}

impl Callback for Bridge {
    fn on_train_begin(&mut self, info: &TrainBegin) {
        Python::attach(|py| {
            let reply = self.call(py, "train_begin", (info.epochs, info.steps_per_epoch));
            self.take(reply);
        });
    }

    fn on_epoch_begin(&mut self, epoch: usize) {
        Python::attach(|py| {
            let reply = self.call(py, "epoch_begin", (epoch,));
            self.take(reply);
            self.check_signals(py);
        });
    }

    fn on_batch_begin(
        &mut self,
        _epoch: usize,
        step: usize,
        model: &mut Sequential,
    ) -> deeptrain::Result<()> {
        self.apply_lr(model);
        if self.batch_begin {
            let lr = model.optimizer().map_or(0.0, |o| o.learning_rate());
            Python::attach(|py| {
                let reply = self.call(py, "batch_begin", (step, lr));
                self.take(reply);
            });
            self.apply_lr(model);
        }
        Ok(())
    }

    fn on_batch_end(&mut self, logs: &BatchEnd) {
        // A Python layer that raised stops training after this step (`fit` raises it).
        self.stop_after_batch |= py_layer::is_pending();
        if self.batch_end {
            Python::attach(|py| {
                let reply = match logs_dict(py, &zip(logs.names, logs.values)) {
                    Ok(d) => self.call(py, "batch_end", (logs.step - 1, d)),
                    Err(e) => {
                        self.fail(e);
                        None
                    }
                };
                self.take(reply);
                self.check_signals(py);
            });
        } else if self.checked.elapsed() >= SIGNAL_CHECK {
            Python::attach(|py| self.check_signals(py));
        }
    }

    fn stop_after_batch(&mut self) -> bool {
        std::mem::take(&mut self.stop_after_batch)
    }

    fn on_epoch_end(
        &mut self,
        logs: &EpochLogs,
        model: &mut Sequential,
    ) -> deeptrain::Result<Control> {
        self.apply_lr(model);
        let lr = model.optimizer().map_or(0.0, |o| o.learning_rate());
        // The weights as the epoch left them, for callbacks that read them
        // (`self.model.get_weights()`); the model itself is busy training.
        let weights = self.dispatcher.as_ref().map(|_| model.weights());
        let reply = Python::attach(|py| {
            let arrays = weights.map(|Weights(layers)| -> PyResult<Vec<Vec<_>>> {
                layers
                    .into_iter()
                    .map(|tensors| tensors.into_iter().map(|t| array(py, t)).collect())
                    .collect()
            });
            let arrays = match arrays.transpose() {
                Ok(a) => a,
                Err(e) => {
                    self.fail(e);
                    return None;
                }
            };
            match logs_dict(py, &logs.values) {
                Ok(d) => self.call(py, "epoch_end", (logs.epoch, d, lr, arrays)),
                Err(e) => {
                    self.fail(e);
                    None
                }
            }
        });
        self.take(reply);
        self.apply_lr(model);
        if self.error.is_some() {
            return Err(Error::Stopped(
                "a Python callback raised an exception".into(),
            ));
        }
        let stop = std::mem::take(&mut self.stop_after_batch);
        Ok(if stop {
            Control::Stop
        } else {
            Control::Continue
        })
    }

    fn on_train_end(&mut self, _history: &History, _model: &mut Sequential) {
        Python::attach(|py| {
            let reply = self.call(py, "train_end", ());
            self.take(reply);
        });
    }

    fn set_verbose(&mut self, verbose: bool) {
        self.verbose = verbose;
    }
}

fn zip(names: &[String], values: &[f64]) -> Vec<(String, f64)> {
    names.iter().cloned().zip(values.iter().copied()).collect()
}

/// Trains the spec file at `path` as `deeptrain train` does (its data, model, optimizer,
/// schedule and early stopping; the writing callbacks are left to the command). Returns the
/// epochs' logs and the trained model.
#[pyfunction]
fn train(py: Python<'_>, path: &str, verbose: u8) -> PyResult<(Vec<EpochTuple>, PyModel)> {
    let mut experiment = Experiment::from_file(Path::new(path)).map_err(to_py)?;
    experiment
        .run_spec_callbacks(None, verbose > 0)
        .map_err(to_py)?;
    let stop = Arc::new(AtomicBool::new(false));
    let mut bridge = Bridge {
        dispatcher: None,
        batch_begin: false,
        batch_end: false,
        error: None,
        stop: stop.clone(),
        checked: Instant::now(),
        pending_lr: None,
        stop_after_batch: false,
        verbose: false,
    };
    let mut progress = (verbose > 0).then(Progress::new);
    let result = py.detach(|| {
        let mut all: Vec<&mut dyn Callback> = vec![&mut bridge];
        if let Some(p) = progress.as_mut() {
            all.push(p);
        }
        experiment.fit(&mut all, Some(stop)).map(epochs)
    });
    if let Some(e) = bridge.error.take() {
        return Err(e);
    }
    let history = result.map_err(to_py)?;
    let (model, _, _) = experiment.into_parts();
    Ok((history, PyModel::new(model)))
}

/// Arrays of a dataset: (x, labels).
type Pair<'py> = (Bound<'py, PyArrayDyn<f32>>, Bound<'py, PyArrayDyn<f32>>);

fn pair(py: Python<'_>, d: Dataset) -> PyResult<Pair<'_>> {
    Ok((array(py, d.x)?, array(py, d.labels)?))
}

/// The spec file's data as `deeptrain train` prepares it (split, scaled): (train,
/// validation or None, test or None).
#[pyfunction]
#[allow(clippy::type_complexity)]
fn prepare<'py>(
    py: Python<'py>,
    path: &str,
) -> PyResult<(Pair<'py>, Option<Pair<'py>>, Option<Pair<'py>>)> {
    let spec = Spec::from_file(Path::new(path)).map_err(to_py)?;
    let prepared = py
        .detach(|| deeptrain::data::prepare(&spec.data, None))
        .map_err(to_py)?;
    let validation = prepared.validation.map(|d| pair(py, d)).transpose()?;
    let test = prepared.test.map(|d| pair(py, d)).transpose()?;
    Ok((pair(py, prepared.train)?, validation, test))
}

/// Fashion-MNIST's four arrays from the IDX files in `dir` (the Debian package's directory,
/// or `$DEEPTRAIN_FASHION_MNIST`, when None): (x_train, y_train, x_test, y_test), float32.
#[pyfunction]
#[pyo3(signature = (dir=None))]
fn fashion_mnist<'py>(py: Python<'py>, dir: Option<&str>) -> PyResult<(Pair<'py>, Pair<'py>)> {
    let dir = deeptrain::data::fashion_mnist_dir(dir.map(Path::new));
    let splits = py
        .detach(|| deeptrain::data::fashion_mnist(&dir))
        .map_err(to_py)?;
    let (train, test) = (splits.train, splits.test.unwrap_or_default());
    Ok((pair(py, train)?, pair(py, test)?))
}

/// The embedded 8x8 digits (scikit-learn's), unscaled: (train, test) as `[data] dataset =
/// "digits"` splits them.
#[pyfunction]
fn digits(py: Python<'_>) -> PyResult<(Pair<'_>, Option<Pair<'_>>)> {
    let splits = deeptrain::data::digits().map_err(to_py)?;
    let test = splits.test.map(|d| pair(py, d)).transpose()?;
    Ok((pair(py, splits.train)?, test))
}

/// Checks one layer table (JSON): the layer's error, naming the key, if it has one.
#[pyfunction]
fn check_layer(table_json: &str) -> PyResult<()> {
    let value: serde_json::Value =
        serde_json::from_str(table_json).map_err(|e| PyValueError::new_err(e.to_string()))?;
    let table = match toml::Value::try_from(value) {
        Ok(toml::Value::Table(t)) => t,
        Ok(_) => return Err(PyValueError::new_err("a layer is a table")),
        Err(e) => return Err(PyValueError::new_err(e.to_string())),
    };
    let spec = LayerSpec::from_table(table).map_err(|e| PyValueError::new_err(e.detail()))?;
    spec.validate()
        .map_err(|e| PyValueError::new_err(e.detail()))
}

/// The TOML text a spec (JSON) reads as, after the same checks as a spec file.
#[pyfunction]
fn spec_toml(spec_json: &str) -> PyResult<String> {
    let spec = spec_from_json(spec_json, "spec")?;
    toml::to_string(&spec).map_err(|e| PyValueError::new_err(e.to_string()))
}

/// `deeptrain diagnose` on the spec file at `path` (or spec JSON with `json`): a short run of
/// exactly `steps` steps with every instrument on, then the verdicts, as the command's `--json`
/// prints them.
#[pyfunction]
#[pyo3(signature = (path, steps, every=None, json=false))]
fn diagnose(
    py: Python<'_>,
    path: &str,
    steps: usize,
    every: Option<u64>,
    json: bool,
) -> PyResult<String> {
    let spec = if json {
        spec_from_json(path, "diagnose")?
    } else {
        Spec::from_file(Path::new(path)).map_err(to_py)?
    };
    let diagnosis = py
        .detach(|| {
            let experiment = Experiment::from_spec(&spec)?;
            deeptrain::diagnostics::diagnose(experiment, steps, every)
        })
        .map_err(to_py)?;
    Ok(diagnosis.to_json().to_string())
}

/// Sets how many threads the engine uses (0: every core, the default), as the command's
/// `--threads`.
#[pyfunction]
fn set_num_threads(threads: usize) {
    deeptrain::linalg::set_num_threads(threads);
}

/// The number of threads the engine uses.
#[pyfunction]
fn num_threads() -> usize {
    deeptrain::linalg::num_threads()
}

#[pymodule]
fn _core(m: &Bound<'_, PyModule>) -> PyResult<()> {
    m.add_class::<PyModel>()?;
    m.add_function(wrap_pyfunction!(train, m)?)?;
    m.add_function(wrap_pyfunction!(prepare, m)?)?;
    m.add_function(wrap_pyfunction!(fashion_mnist, m)?)?;
    m.add_function(wrap_pyfunction!(digits, m)?)?;
    m.add_function(wrap_pyfunction!(check_layer, m)?)?;
    m.add_function(wrap_pyfunction!(spec_toml, m)?)?;
    m.add_function(wrap_pyfunction!(set_num_threads, m)?)?;
    m.add_function(wrap_pyfunction!(diagnose, m)?)?;
    m.add_function(wrap_pyfunction!(num_threads, m)?)?;
    m.add_function(wrap_pyfunction!(py_layer::register_python_layer, m)?)?;
    m.add("__version__", env!("CARGO_PKG_VERSION"))?;
    Ok(())
}
