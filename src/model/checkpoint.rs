//! Training checkpoints: everything needed to continue a run exactly where it stopped.
//!
//! A checkpoint directory holds the saved model (`model.toml`, `weights.safetensors`,
//! `optimizer.safetensors`), the run's metadata (`run.toml`, `scaler.safetensors`) and
//! `training_state.json`: the epochs done, the history so far,
//! the on-plateau schedule state, the observer's state (diagnostics' rows) and the position of
//! every random stream (shuffling,
//! augmentation, dropout and RReLU layers). Resuming from it and training on gives the same
//! weights, bit for bit, as a run that never stopped.
//!
//! Writing is atomic at the directory level: the new checkpoint is written to `NAME.tmp`, the old
//! one renamed to `NAME.old`, the new one renamed into place, and only then is the old one
//! removed; a reader falls back to `NAME.old` when `NAME` is missing, so an interruption at any
//! moment leaves a complete checkpoint.

use std::path::{Path, PathBuf};

use rand::SeedableRng;
use serde::{Deserialize, Serialize};

use super::{ModelFile, RunMetadata, Sequential};
use crate::callbacks::{EpochLogs, History};
use crate::schedules::Plateau;
use crate::{io, Error, Result, Rng};

/// The version of `training_state.json` this build writes and reads. Version 2 keeps the
/// observer's state (the diagnostics' rows); a version 1 checkpoint, written before it,
/// would resume without them, so it is refused, and left as it is.
pub const TRAINING_STATE_VERSION: u32 = 2;
const STATE_FILE: &str = "training_state.json";

/// The position of a ChaCha random stream: seed, stream and word position.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct RngState {
    /// The 32-byte seed, hex.
    pub seed: String,
    /// The stream number.
    pub stream: u64,
    /// Words consumed (as a decimal string: it is a u128).
    pub word_pos: String,
}

impl RngState {
    /// The state of `rng`.
    pub fn of(rng: &Rng) -> RngState {
        RngState {
            seed: rng.get_seed().iter().map(|b| format!("{b:02x}")).collect(),
            stream: rng.get_stream(),
            word_pos: rng.get_word_pos().to_string(),
        }
    }

    /// A generator at exactly this position.
    pub fn restore(&self) -> Result<Rng> {
        let bad = || Error::Data("a random-stream state in the checkpoint is malformed".into());
        if self.seed.len() != 64 || !self.seed.is_ascii() {
            return Err(bad());
        }
        let mut seed = [0u8; 32];
        for (i, b) in seed.iter_mut().enumerate() {
            *b = u8::from_str_radix(&self.seed[2 * i..2 * i + 2], 16).map_err(|_| bad())?;
        }
        let mut rng = Rng::from_seed(seed);
        rng.set_stream(self.stream);
        rng.set_word_pos(self.word_pos.parse().map_err(|_| bad())?);
        Ok(rng)
    }
}

/// One epoch of history, serializable.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct SavedEpoch {
    epoch: usize,
    values: Vec<(String, f64)>,
    learning_rate: f64,
    seconds: f64,
}

/// The on-plateau schedule's state, serializable.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct SavedPlateau {
    best: Option<f64>,
    bad_epochs: u32,
    cooldown_left: u32,
    lr: f64,
}

/// `training_state.json`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TrainingState {
    /// [`TRAINING_STATE_VERSION`].
    pub format_version: u32,
    /// Epochs completed.
    pub epochs_done: usize,
    /// The history of those epochs.
    pub history: Vec<SavedEpoch>,
    /// Shuffling stream.
    pub shuffle_rng: RngState,
    /// Augmentation stream.
    pub augment_rng: RngState,
    /// The last epoch's sample order (each epoch shuffles the previous order).
    pub shuffle_order: Vec<u32>,
    /// Each layer's own stream (dropout, noise, RReLU), by layer index.
    pub layer_rngs: Vec<Option<RngState>>,
    /// The on-plateau schedule's state, if the model has one.
    pub plateau: Option<SavedPlateau>,
    /// What the model's observer keeps ([`super::Observer::save_state`]: diagnostics' rows), if
    /// anything (absent in checkpoints of runs without one).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub observer: Option<serde_json::Value>,
}

impl TrainingState {
    /// Checks every count and index against the others: the epoch numbers, the history's values,
    /// the sample order (a permutation of 0..N, or empty) and the plateau state.
    fn check(&self) -> std::result::Result<(), String> {
        for (i, e) in self.history.iter().enumerate() {
            if e.epoch != i {
                return Err(format!(
                    "history entry {} is numbered epoch {}, expected {i}",
                    i + 1,
                    e.epoch
                ));
            }
            if !(e.learning_rate.is_finite() && e.seconds.is_finite() && e.seconds >= 0.0) {
                return Err(format!(
                    "history of epoch {} has a non-finite learning rate or time",
                    e.epoch
                ));
            }
        }
        let n = self.shuffle_order.len();
        let mut seen = vec![false; n];
        for &i in &self.shuffle_order {
            match seen.get_mut(i as usize) {
                Some(s) if !*s => *s = true,
                _ => {
                    return Err(format!(
                        "shuffle_order is not a permutation of 0..{n} (index {i} is out of range or repeated)"
                    ))
                }
            }
        }
        if let Some(p) = &self.plateau {
            if !(p.lr.is_finite() && p.lr > 0.0) || p.best.is_some_and(|b| b.is_nan()) {
                return Err(format!(
                    "the on-plateau state has learning rate {} and best {:?}",
                    p.lr, p.best
                ));
            }
        }
        Ok(())
    }
}

impl Sequential {
    /// Writes a checkpoint of this model, with the run's metadata, after `history` into `dir`
    /// (atomically, see the module docs).
    pub fn save_checkpoint(
        &self,
        dir: &Path,
        metadata: &RunMetadata,
        history: &History,
    ) -> Result<()> {
        let tmp = sibling(dir, "tmp");
        let old = sibling(dir, "old");
        if tmp.exists() {
            std::fs::remove_dir_all(&tmp).map_err(|e| Error::io(&tmp, e))?;
        }
        self.save(&tmp)?;
        metadata.save(&tmp)?;
        let state = TrainingState {
            format_version: TRAINING_STATE_VERSION,
            epochs_done: history.epochs.len(),
            history: history
                .epochs
                .iter()
                .map(|e| SavedEpoch {
                    epoch: e.epoch,
                    values: e.values.clone(),
                    learning_rate: e.learning_rate,
                    seconds: e.seconds,
                })
                .collect(),
            shuffle_rng: RngState::of(&self.shuffle_rng),
            augment_rng: RngState::of(&self.augment_rng),
            shuffle_order: self.shuffle_order.iter().map(|&i| i as u32).collect(),
            layer_rngs: self
                .layers
                .iter()
                .map(|l| l.rng().map(RngState::of))
                .collect(),
            plateau: self.schedule().map(|s| {
                let p = s.plateau();
                SavedPlateau {
                    best: p.best,
                    bad_epochs: p.bad_epochs,
                    cooldown_left: p.cooldown_left,
                    lr: p.lr,
                }
            }),
            observer: self.observer.as_ref().and_then(|o| o.save_state()),
        };
        let text = serde_json::to_string_pretty(&state)
            .map_err(|e| Error::format(&tmp.join(STATE_FILE), e.to_string()))?;
        io::write_atomic(&tmp.join(STATE_FILE), text.as_bytes())?;
        if dir.exists() {
            if old.exists() {
                std::fs::remove_dir_all(&old).map_err(|e| Error::io(&old, e))?;
            }
            std::fs::rename(dir, &old).map_err(|e| Error::io(dir, e))?;
        }
        std::fs::rename(&tmp, dir).map_err(|e| Error::io(dir, e))?;
        if old.exists() {
            std::fs::remove_dir_all(&old).map_err(|e| Error::io(&old, e))?;
        }
        Ok(())
    }

    /// Loads a checkpoint written by [`Sequential::save_checkpoint`] (falling back to the
    /// previous one if an interrupted write left only that): the model with its optimizer,
    /// schedule and random streams restored, its model file, the run's metadata and history.
    pub fn load_checkpoint(dir: &Path) -> Result<(Sequential, ModelFile, RunMetadata, History)> {
        let dir = if dir.join(STATE_FILE).is_file() {
            dir.to_path_buf()
        } else if sibling(dir, "old").join(STATE_FILE).is_file() {
            sibling(dir, "old")
        } else {
            return Err(Error::format(
                &dir.join(STATE_FILE),
                "no checkpoint here (missing training_state.json)",
            ));
        };
        // A checkpoint is whole or refused: without its optimizer state, training would go on
        // with a fresh optimizer and silently differ.
        for name in [super::save::OPTIMIZER_FILE, super::save::WEIGHTS_FILE] {
            if !dir.join(name).is_file() {
                return Err(Error::format(
                    &dir.join(name),
                    "missing from the checkpoint; it cannot be resumed",
                ));
            }
        }
        let (mut model, file) = Sequential::load(&dir)?;
        // Nor without its scaler (kept beside the model since format 2): the data would go in
        // unscaled.
        if file.format_version >= 2 {
            for name in super::metadata::FILES {
                if !dir.join(name).is_file() {
                    return Err(Error::format(
                        &dir.join(name),
                        "missing from the checkpoint; it cannot be resumed",
                    ));
                }
            }
        }
        let metadata = RunMetadata::load(&dir)?;
        let path = dir.join(STATE_FILE);
        let text = io::read_to_string(&path)?;
        let malformed =
            |e: serde_json::Error| Error::format(&path, format!("malformed training state: {e}"));
        // The version first: another version's fields are not this one's.
        let json: serde_json::Value = serde_json::from_str(&text).map_err(malformed)?;
        match json.get("format_version").and_then(|v| v.as_u64()) {
            Some(v) if v == u64::from(TRAINING_STATE_VERSION) => {}
            Some(1) => {
                return Err(Error::format(
                    &path,
                    format!("format_version 1 was written before checkpoints kept the diagnostics' rows, and would not resume exactly (this build reads {TRAINING_STATE_VERSION}); resume it with the build that wrote it, or train afresh into another --out"),
                ))
            }
            v => {
                return Err(Error::format(
                    &path,
                    format!(
                        "format_version {} is not supported (this build reads {TRAINING_STATE_VERSION})",
                        v.map_or("missing".to_string(), |v| v.to_string())
                    ),
                ))
            }
        }
        let state: TrainingState = serde_json::from_value(json).map_err(malformed)?;
        if state.layer_rngs.len() != model.layers.len() || state.history.len() != state.epochs_done
        {
            return Err(Error::format(
                &path,
                "the training state does not fit the model",
            ));
        }
        let bad = |m: String| Error::format(&path, m);
        state.check().map_err(bad)?;
        if state.plateau.is_some() != model.schedule().is_some() {
            return Err(bad(
                "the on-plateau schedule state does not fit the model's schedule".into(),
            ));
        }
        model.shuffle_rng = state.shuffle_rng.restore().map_err(|e| bad(e.detail()))?;
        model.augment_rng = state.augment_rng.restore().map_err(|e| bad(e.detail()))?;
        model.shuffle_order = state.shuffle_order.iter().map(|&i| i as usize).collect();
        for (layer, rng) in model.layers.iter_mut().zip(&state.layer_rngs) {
            if let Some(rng) = rng {
                layer.set_rng(rng.restore().map_err(|e| bad(e.detail()))?);
            }
        }
        if let (Some(p), Some(schedule)) = (&state.plateau, model.schedule_mut()) {
            schedule.set_plateau(Plateau {
                best: p.best,
                bad_epochs: p.bad_epochs,
                cooldown_left: p.cooldown_left,
                lr: p.lr,
            });
        }
        model.observer_state = state.observer;
        let history = History {
            epochs: state
                .history
                .into_iter()
                .map(|e| EpochLogs {
                    epoch: e.epoch,
                    values: e.values,
                    learning_rate: e.learning_rate,
                    seconds: e.seconds,
                })
                .collect(),
        };
        Ok((model, file, metadata, history))
    }
}

/// `dir` with a suffix: `run/resume` → `run/resume.tmp`.
fn sibling(dir: &Path, suffix: &str) -> PathBuf {
    let mut name = dir.file_name().unwrap_or_default().to_os_string();
    name.push(".");
    name.push(suffix);
    dir.with_file_name(name)
}
