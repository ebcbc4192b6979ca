//! A callback of one's own: it records the learning rate and the gap between training and
//! validation loss each epoch, and stops training once the gap is positive and has grown for three
//! epochs in a row (a home-made overfitting alarm).
//!
//!     cargo run --release --example custom_callback

use deeptrain::callbacks::{Control, EpochLogs};
use deeptrain::{data, Activation, Callback, DenseSpec, FitOptions, LayerSpec, Loss, Metric};
use deeptrain::{Scale, Scaler, Sequential, Sgd};

/// Stops when val_loss − loss is positive and has grown `patience` epochs running.
struct GapAlarm {
    patience: usize,
    gaps: Vec<f64>,
}

impl Callback for GapAlarm {
    fn on_epoch_end(
        &mut self,
        logs: &EpochLogs,
        _model: &mut Sequential,
    ) -> deeptrain::Result<Control> {
        let (Some(loss), Some(val_loss)) = (logs.get("loss"), logs.get("val_loss")) else {
            return Ok(Control::Continue);
        };
        self.gaps.push(val_loss - loss);
        println!(
            "epoch {:>2}: lr {:.4}, gap {:+.4}",
            logs.epoch + 1,
            logs.learning_rate,
            val_loss - loss
        );
        let recent = &self.gaps[self.gaps.len().saturating_sub(self.patience + 1)..];
        let growing = recent.len() == self.patience + 1
            && recent[0] > 0.0
            && recent.windows(2).all(|w| w[1] > w[0]);
        Ok(if growing {
            Control::Stop
        } else {
            Control::Continue
        })
    }
}

fn main() -> deeptrain::Result<()> {
    let splits = data::digits()?;
    let mut train = splits.train;
    Scaler::fit(Scale::Unit, &train.x).apply(&mut train.x);
    let mut model = Sequential::new(&[8, 8])
        .add(LayerSpec::flatten())
        .add(DenseSpec::new(256).activation(Activation::Relu))
        .add(DenseSpec::new(10).activation(Activation::Softmax))
        .build(1)?;
    model.compile(
        Box::new(Sgd::new(0.2)?),
        Loss::SparseCategoricalCrossentropy,
        &[Metric::Accuracy],
    )?;
    let mut alarm = GapAlarm {
        patience: 3,
        gaps: Vec::new(),
    };
    let options = FitOptions {
        epochs: 100,
        validation_split: 0.2,
        ..Default::default()
    };
    let history = model.fit(&train, None, &options, &mut [&mut alarm])?;
    println!("stopped after {} of 100 epochs", history.epochs.len());
    Ok(())
}
