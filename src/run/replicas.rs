//! Data-parallel start-up: every rank's replica of the experiment, and the checks that the
//! ranks agree before any of them trains (the same build, spec and data). What `mpirun -n N
//! deeptrain train` does on each process, for a Rust program to do the same with any
//! [`Communicator`] (see [`crate::distributed`]).
//!
//! ```no_run
//! use std::sync::Arc;
//! use deeptrain::distributed::{Communicator, ThreadRanks};
//! use deeptrain::run::Replicas;
//!
//! let spec = deeptrain::spec::Spec::from_file("examples/penguins.toml".as_ref())?;
//! let handles: Vec<_> = ThreadRanks::group(2)
//!     .into_iter()
//!     .map(|rank| {
//!         let spec = spec.clone();
//!         std::thread::spawn(move || -> deeptrain::Result<()> {
//!             let replicas = Replicas::new(Arc::new(rank));
//!             let mut experiment = replicas.experiment(&spec, None)?;
//!             replicas.train(&mut experiment, &mut [], None)?;
//!             Ok(())
//!         })
//!     })
//!     .collect();
//! for h in handles {
//!     h.join().expect("a rank panicked")?;
//! }
//! # Ok::<(), deeptrain::Error>(())
//! ```

use std::path::Path;
use std::sync::atomic::AtomicBool;
use std::sync::Arc;

use crate::callbacks::Callback;
use crate::distributed::{self, files, Communicator};
use crate::experiment::{has_checkpoint, CHECKPOINT_DIR};
use crate::spec::Spec;
use crate::{Error, Experiment, Result};

/// The ranks of one data-parallel run, seen from one of them.
pub struct Replicas {
    comm: Arc<dyn Communicator>,
}

impl Replicas {
    /// The ranks of `comm`.
    pub fn new(comm: Arc<dyn Communicator>) -> Replicas {
        Replicas { comm }
    }

    /// The communicator.
    pub fn communicator(&self) -> &Arc<dyn Communicator> {
        &self.comm
    }

    /// Whether this is rank 0, the lead, which prints and writes for all.
    pub fn is_lead(&self) -> bool {
        self.comm.rank() == 0
    }

    /// This rank's experiment. Every rank must call it, with the same `spec`:
    /// 1. checks that every rank runs the same program on the same spec;
    /// 2. the lead builds the model from the spec, or loads the checkpoint of the run directory
    ///    `resume` (when it has one) and sends its files to the other ranks, which may not see
    ///    its disk; every rank then takes the lead's weights;
    /// 3. checks that every rank prepared the same data (or, sharded, dealt it alike).
    pub fn experiment(&self, spec: &Spec, resume: Option<&Path>) -> Result<Experiment> {
        // Before any collective whose shape depends on the spec (a sharded scaler's sums).
        self.agree_on_build_and_spec(spec)?;
        let experiment = self.replica(spec, resume)?;
        self.agree_on_data(&experiment)?;
        Ok(experiment)
    }

    /// Trains every phase left with `callbacks` on this rank, interrupted between two steps
    /// when `stop` is set. The lead passes every callback; another rank, those of
    /// [`Experiment::replica_callbacks`] (none that writes). Then, with sharded data, every
    /// rank but the lead takes its part in the final evaluation of the training rows (the lead
    /// does in [`super::RunOutputs::write`]).
    pub fn train(
        &self,
        experiment: &mut Experiment,
        callbacks: &mut [&mut dyn Callback],
        stop: Option<Arc<AtomicBool>>,
    ) -> Result<()> {
        experiment.fit(callbacks, stop)?;
        if !self.is_lead() && experiment.data().shard.is_some() {
            experiment.evaluate_train_over(self.comm.as_ref())?;
        }
        Ok(())
    }

    /// Training on a rank other than the lead: the same epochs, with the callbacks that
    /// change the model or stop it (early stopping), none that writes; then, with sharded
    /// data, its part of the final evaluation of the training rows.
    pub fn train_follower(
        &self,
        experiment: &mut Experiment,
        stop: Option<Arc<AtomicBool>>,
    ) -> Result<()> {
        let mut callbacks = experiment.replica_callbacks();
        // The lead prints their lines (early stopping) for every rank.
        callbacks.iter_mut().for_each(|c| c.set_verbose(false));
        let mut all: Vec<&mut dyn Callback> = callbacks
            .iter_mut()
            .map(|c| c.as_mut() as &mut dyn Callback)
            .collect();
        self.train(experiment, &mut all, stop)
    }

    /// The lead builds the replica from the spec or loads the checkpoint in `resume` and sends
    /// the checkpoint's files to the other ranks; then every rank takes the lead's weights.
    fn replica(&self, spec: &Spec, resume: Option<&Path>) -> Result<Experiment> {
        let comm = &self.comm;
        let lead = self.is_lead();
        let mut packed = Vec::new();
        if lead {
            if let Some(run) = resume.filter(|run| has_checkpoint(run)) {
                let dir = run.join(CHECKPOINT_DIR);
                let dir = if dir.join("training_state.json").is_file() {
                    dir
                } else {
                    run.join(format!("{CHECKPOINT_DIR}.old"))
                };
                packed = files::pack_dir(&dir)?;
            }
        }
        comm.broadcast_bytes(&mut packed);
        let over = Some(comm.clone());
        let mut experiment = match (packed.is_empty(), resume) {
            (true, _) => Experiment::from_spec_over(spec, over)?,
            (false, Some(run)) if lead => Experiment::resume_over(spec, run, over)?,
            (false, _) => {
                let run = std::env::temp_dir().join(format!(
                    "deeptrain-rank{}-{}",
                    comm.rank(),
                    std::process::id()
                ));
                files::unpack_dir(&packed, &run.join(CHECKPOINT_DIR))?;
                let experiment = Experiment::resume_over(spec, &run, over);
                std::fs::remove_dir_all(&run).map_err(|e| Error::io(&run, e))?;
                experiment?
            }
        };
        experiment.model_mut().broadcast_weights(comm.as_ref());
        Ok(experiment)
    }

    /// Checks that every rank runs the same program on the same spec, so that a stale build or
    /// file on one machine is an error instead of a silently wrong run (or a hang).
    fn agree_on_build_and_spec(&self, spec: &Spec) -> Result<()> {
        let exe = std::env::current_exe().map_err(|e| Error::Config(e.to_string()))?;
        let binary =
            distributed::fingerprint(&std::fs::read(&exe).map_err(|e| Error::io(&exe, e))?);
        let spec_text = serde_json::to_vec(spec).map_err(|e| Error::Config(e.to_string()))?;
        self.agree_on(&[
            ("deeptrain binary", binary),
            (
                "spec (after command-line overrides)",
                distributed::fingerprint(&spec_text),
            ),
        ])
    }

    /// Checks that every rank prepared the same data: the same rows, or, sharded, the same
    /// deal of the rows.
    fn agree_on_data(&self, experiment: &Experiment) -> Result<()> {
        let data = experiment.data();
        // Sharded, the ranks hold different rows: they compare how the rows were dealt.
        let data_hash = match &data.shard {
            Some(shard) => shard.fingerprint,
            None => {
                let mut hash = distributed::fingerprint(b"data");
                for set in std::iter::once(&data.train).chain(data.validation.as_ref()) {
                    for v in set.x.data() {
                        distributed::fnv_extend(&mut hash, &v.to_bits().to_le_bytes());
                    }
                    for l in set.labels.data() {
                        distributed::fnv_extend(&mut hash, &l.to_bits().to_le_bytes());
                    }
                }
                hash
            }
        };
        self.agree_on(&[("training or validation data", data_hash)])
    }

    /// An error naming the first of `checks` (what, fingerprint) on which some rank differs
    /// from rank 0.
    fn agree_on(&self, checks: &[(&str, u64)]) -> Result<()> {
        for &(what, value) in checks {
            let differing = distributed::ranks_differing(self.comm.as_ref(), value);
            if differing > 0 {
                return Err(Error::Config(format!(
                    "{differing} of the {} MPI ranks have a different {what} than rank 0: every rank must run the same build on the same spec and data",
                    self.comm.size()
                )));
            }
        }
        Ok(())
    }
}
