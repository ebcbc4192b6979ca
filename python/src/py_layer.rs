//! Layers written in Python: a `keras.layers.Layer` subclass with a numpy `call` and a numpy
//! `backward`, run by the library's loop as any layer. Each forward and backward takes the GIL
//! and copies the batch, the weights and the result across (numpy in, numpy out), so such a
//! layer costs a round trip to Python per step; models without one never enter this file.
//!
//! The Python side (`deeptrain.keras.layers.Layer`) registers each subclass under its type
//! name when the class is defined ([`register_python_layer`]); the registry's factory makes a
//! new instance from the layer's saved keys (`from_config`), so that a saved model holding it
//! loads again in a process that defines the class, as Keras' registered custom objects do.
//! The instance answers three private methods:
//!
//! - `_dt_build(input_shape, seed) -> ([(name, array, trainable)], output_shape)`
//! - `_dt_forward(x, weights, training) -> y`
//! - `_dt_backward(x, y, dy, weights) -> (dx, [dW for each trainable weight])`

use std::collections::HashSet;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Mutex;

use deeptrain::layers::{register_layer, CustomLayerSpec, Layer, LayerSpec, Mode, Param};
use deeptrain::{Error, Result, Rng, Tensor};
use numpy::{PyArray1, PyArrayDyn, PyArrayMethods, PyReadonlyArrayDyn, PyUntypedArrayMethods};
use pyo3::exceptions::PyValueError;
use pyo3::prelude::*;
use rand::Rng as _;

/// The first exception a Python layer raised inside a forward or backward (which cannot
/// return an error): `fit`, `predict` and `evaluate` raise it once the engine returns.
static PENDING: Mutex<Option<PyErr>> = Mutex::new(None);
/// Whether `PENDING` holds one: read after every step, so a load, not a lock.
static RAISED: AtomicBool = AtomicBool::new(false);

/// Takes the pending exception of a Python layer, if one was raised.
pub fn take_pending() -> Option<PyErr> {
    let mut pending = PENDING.lock().ok()?;
    RAISED.store(false, Ordering::Relaxed);
    pending.take()
}

/// Whether a Python layer has raised since the last [`take_pending`].
pub fn is_pending() -> bool {
    RAISED.load(Ordering::Relaxed)
}

fn keep(e: PyErr) {
    if let Ok(mut p) = PENDING.lock() {
        p.get_or_insert(e);
        RAISED.store(true, Ordering::Relaxed);
    }
}

/// A name that lives as long as the program (a parameter's or class's name is `&'static`):
/// each distinct string is leaked once.
fn interned(name: &str) -> &'static str {
    static NAMES: Mutex<Option<HashSet<&'static str>>> = Mutex::new(None);
    let mut names = NAMES.lock().unwrap_or_else(|p| p.into_inner());
    let set = names.get_or_insert_with(HashSet::new);
    if let Some(n) = set.get(name) {
        return n;
    }
    let leaked: &'static str = Box::leak(name.to_string().into_boxed_str());
    set.insert(leaked);
    leaked
}

/// What `_dt_build` answers: the weights (name, initial value, trainable), the output shape.
type Built<'py> = (Vec<(String, Bound<'py, PyAny>, bool)>, Vec<usize>);

/// A Python layer inside the engine.
struct PyLayer {
    object: Py<PyAny>,
    type_name: String,
    config: toml::Table,
    class: &'static str,
    name: String,
    params: Vec<Param>,
    /// Per-sample output shape, from `build`.
    output_shape: Vec<usize>,
}

fn numpy<'py>(py: Python<'py>, t: &Tensor) -> PyResult<Bound<'py, PyArrayDyn<f32>>> {
    PyArray1::from_slice(py, t.data()).reshape(t.shape().to_vec())
}

/// Copies a float32 array (any layout) into `out`, its shape checked against `expected`
/// when given.
fn copy_into(value: &Bound<'_, PyAny>, out: &mut Tensor, what: &str) -> PyResult<()> {
    let a: PyReadonlyArrayDyn<f32> = value
        .extract()
        .map_err(|_| PyValueError::new_err(format!("{what} must be a float32 numpy array")))?;
    out.resize(a.shape());
    match a.as_slice() {
        Ok(s) => out.data_mut().copy_from_slice(s),
        Err(_) => out
            .data_mut()
            .iter_mut()
            .zip(a.as_array().iter())
            .for_each(|(o, v)| *o = *v),
    }
    Ok(())
}

impl PyLayer {
    fn weights<'py>(&self, py: Python<'py>) -> PyResult<Vec<Bound<'py, PyArrayDyn<f32>>>> {
        self.params.iter().map(|p| numpy(py, &p.value)).collect()
    }

    fn forward_py(&mut self, input: &Tensor, output: &mut Tensor, training: bool) -> PyResult<()> {
        Python::attach(|py| {
            let x = numpy(py, input)?;
            let y =
                self.object
                    .call_method1(py, "_dt_forward", (x, self.weights(py)?, training))?;
            copy_into(
                y.bind(py),
                output,
                &format!("layer `{}`: call()'s result", self.name),
            )
        })
    }

    fn backward_py(
        &mut self,
        input: &Tensor,
        output: &Tensor,
        grad_output: &Tensor,
        grad_input: Option<&mut Tensor>,
    ) -> PyResult<()> {
        Python::attach(|py| {
            let args = (
                numpy(py, input)?,
                numpy(py, output)?,
                numpy(py, grad_output)?,
                self.weights(py)?,
            );
            let reply = self.object.call_method1(py, "_dt_backward", args)?;
            let (dx, grads): (Bound<'_, PyAny>, Vec<Bound<'_, PyAny>>) = reply.extract(py)?;
            if let Some(dx_out) = grad_input {
                copy_into(
                    &dx,
                    dx_out,
                    &format!("layer `{}`: backward()'s grad_inputs", self.name),
                )?;
                if dx_out.shape() != input.shape() {
                    return Err(PyValueError::new_err(format!(
                        "layer `{}`: backward() gave grad_inputs of shape {:?} for inputs of shape {:?}",
                        self.name,
                        dx_out.shape(),
                        input.shape()
                    )));
                }
            }
            let name = self.name.clone();
            let mut grads = grads.iter();
            for p in self.params.iter_mut().filter(|p| p.trainable) {
                let g = grads.next().ok_or_else(|| {
                    PyValueError::new_err(format!(
                        "layer `{name}`: backward() gave fewer weight gradients than the layer has trainable weights"
                    ))
                })?;
                let (shape, pname) = (p.value.shape().to_vec(), p.name);
                let what = format!("layer `{name}`: the gradient of `{pname}`");
                copy_into(g, p.grad_mut(), &what)?;
                if p.grad_mut().shape() != shape.as_slice() {
                    return Err(PyValueError::new_err(format!(
                        "{what} has the wrong shape (the weight's is {shape:?})"
                    )));
                }
            }
            Ok(())
        })
    }
}

impl Layer for PyLayer {
    fn name(&self) -> &str {
        &self.name
    }

    fn set_name(&mut self, name: String) {
        self.name = name;
    }

    fn class_name(&self) -> &'static str {
        self.class
    }

    fn build(&mut self, input_shape: &[usize], rng: &mut Rng) -> Result<Vec<usize>> {
        let seed: u64 = rng.random();
        let built = Python::attach(|py| -> PyResult<(Vec<Param>, Vec<usize>)> {
            let reply = self
                .object
                .call_method1(py, "_dt_build", (input_shape.to_vec(), seed))?;
            let (weights, shape): Built<'_> = reply.extract(py)?;
            let mut params = Vec::with_capacity(weights.len());
            for (name, value, trainable) in weights {
                let mut t = Tensor::default();
                copy_into(&value, &mut t, &format!("weight `{name}`"))?;
                let mut p = Param::new(interned(&name), t.shape());
                p.value = t;
                p.set_trainable(trainable);
                params.push(p);
            }
            Ok((params, shape))
        });
        match built {
            Ok((params, shape)) => {
                self.params = params;
                self.output_shape = shape.clone();
                Ok(shape)
            }
            Err(e) => Err(Error::Config(format!(
                "layer `{}` ({}): build: {e}",
                self.name, self.class
            ))),
        }
    }

    fn forward(&mut self, input: &Tensor, output: &mut Tensor, mode: Mode) {
        let training = matches!(mode, Mode::Train | Mode::Sample);
        if let Err(e) = self.forward_py(input, output, training) {
            // The step goes on with NaN of the right shape; the model raises `e` after it.
            keep(e);
            let mut shape = vec![input.shape()[0]];
            shape.extend_from_slice(&self.output_shape);
            output.resize(&shape);
            output.data_mut().fill(f32::NAN);
        }
    }

    fn backward(
        &mut self,
        input: &Tensor,
        output: &Tensor,
        grad_output: &Tensor,
        grad_input: Option<&mut Tensor>,
    ) {
        let mut dx = grad_input;
        if let Err(e) = self.backward_py(input, output, grad_output, dx.as_deref_mut()) {
            keep(e);
            if let Some(dx) = dx {
                dx.resize(input.shape());
                dx.data_mut().fill(0.0);
            }
            for p in self.params.iter_mut() {
                let shape = p.value.shape().to_vec();
                p.grad_mut().resize(&shape);
                p.grad_mut().data_mut().fill(0.0);
            }
        }
    }

    fn params(&self) -> &[Param] {
        &self.params
    }

    fn params_mut(&mut self) -> &mut [Param] {
        &mut self.params
    }

    fn spec(&self) -> LayerSpec {
        LayerSpec::from(CustomLayerSpec::new(&self.type_name, self.config.clone()))
            .named(&self.name)
    }

    fn describe(&self) -> String {
        "Python".to_string()
    }
}

/// Registers the Python layer class `class` (a `keras.layers.Layer` subclass) under
/// `type_name`: specs and model files naming that type build an instance of it.
#[pyfunction]
pub fn register_python_layer(type_name: &str, class: Py<PyAny>) -> PyResult<()> {
    let class_name: String = Python::attach(|py| class.getattr(py, "__name__")?.extract(py))?;
    let class_name = interned(&class_name);
    let type_owned = type_name.to_string();
    register_layer(type_name, move |spec: &CustomLayerSpec| {
        let config =
            serde_json::to_string(&spec.config).map_err(|e| Error::Config(e.to_string()))?;
        let object = Python::attach(|py| class.call_method1(py, "_dt_from_config", (config,)))
            .map_err(|e| Error::Config(format!("layer type `{type_owned}` ({class_name}): {e}")))?;
        Ok(Box::new(PyLayer {
            object,
            type_name: type_owned.clone(),
            config: spec.config.clone(),
            class: class_name,
            name: String::new(),
            params: Vec::new(),
            output_shape: Vec::new(),
        }))
    })
    .map_err(|e| PyValueError::new_err(e.detail()))
}
