//! Where a training step's time goes: cheap timers around the engine's phases, off by default.
//!
//! `deeptrain bench --profile` switches them on ([`set_enabled`]) and reads, per model, the
//! calling thread's time in each [`Phase`]: matrix products ([`crate::linalg`]), waiting for the
//! pool's workers to finish their parts of a job ([`crate::parallel::for_each_part`]), the
//! optimizer's updates and the diagnostics observer (both timed by the bench around the
//! optimizer and observer it installs). What is left of the step is element-wise work: bias and
//! activation passes, pooling, batch norm, the loss, copies.
//!
//! Each phase's time is exclusive: a timer subtracts what the timers nested inside it recorded
//! (a split product's wait for its worker counts as waiting, not as product). Only threads that
//! are not the pool's workers record, so the phases add up to the calling thread's wall time;
//! a part the caller runs itself is its share of the job.
//!
//! Off, a timer is one relaxed atomic load and a branch; on, two clock reads and a few atomic
//! additions, no allocation.

use std::cell::Cell;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::Instant;

/// A phase of the training step whose time is recorded.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Phase {
    /// Matrix products (forward, input and weight gradients; under plain SGD the fused update).
    Products,
    /// The optimizer's update of the parameters.
    Optimizer,
    /// The diagnostics observer's statistics.
    Diagnostics,
    /// The calling thread waiting for the pool's workers to finish their parts of a job.
    Waiting,
}

impl Phase {
    /// Every phase, in the order of [`Totals`].
    pub const ALL: [Phase; 4] = [
        Phase::Products,
        Phase::Optimizer,
        Phase::Diagnostics,
        Phase::Waiting,
    ];

    /// The phase's name in `deeptrain bench --profile`'s output.
    pub fn name(self) -> &'static str {
        match self {
            Phase::Products => "products",
            Phase::Optimizer => "optimizer",
            Phase::Diagnostics => "diagnostics",
            Phase::Waiting => "waiting",
        }
    }
}

static ENABLED: AtomicBool = AtomicBool::new(false);
/// Nanoseconds recorded per phase (exclusive), in the order of [`Phase::ALL`].
static NANOS: [AtomicU64; 4] = [const { AtomicU64::new(0) }; 4];
/// The sum of [`NANOS`]: what a timer's nested timers recorded is its change over the timer.
static TOTAL: AtomicU64 = AtomicU64::new(0);

thread_local! {
    /// Set on the pool's worker threads, which never record.
    static WORKER: Cell<bool> = const { Cell::new(false) };
}

/// Switches the timers on or off, process-wide (on: from the next timer started).
pub fn set_enabled(on: bool) {
    ENABLED.store(on, Ordering::Relaxed);
}

/// Marks the calling thread as one of the pool's workers: its timers record nothing.
pub(crate) fn mark_worker() {
    WORKER.with(|w| w.set(true));
}

/// A running timer of one phase, from [`start`]; [`Timer::stop`] records it.
#[must_use]
pub struct Timer {
    started: Option<(Instant, u64)>,
}

/// Starts timing a phase on this thread: a no-op timer when profiling is off or this is a
/// worker thread.
#[inline]
pub fn start() -> Timer {
    if !ENABLED.load(Ordering::Relaxed) {
        return Timer { started: None };
    }
    start_recording()
}

#[cold]
fn start_recording() -> Timer {
    if WORKER.with(Cell::get) {
        return Timer { started: None };
    }
    Timer {
        started: Some((Instant::now(), TOTAL.load(Ordering::Relaxed))),
    }
}

impl Timer {
    /// Records the time since [`start`] under `phase`, less what timers nested inside it
    /// recorded meanwhile.
    #[inline]
    pub fn stop(self, phase: Phase) {
        if let Some((started, nested_before)) = self.started {
            let elapsed = started.elapsed().as_nanos() as u64;
            let nested = TOTAL.load(Ordering::Relaxed) - nested_before;
            let own = elapsed.saturating_sub(nested);
            NANOS[phase as usize].fetch_add(own, Ordering::Relaxed);
            TOTAL.fetch_add(own, Ordering::Relaxed);
        }
    }
}

/// Seconds recorded per phase since the last [`take`], in the order of [`Phase::ALL`].
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub struct Totals(pub [f64; 4]);

impl Totals {
    /// Seconds recorded under `phase`.
    pub fn get(&self, phase: Phase) -> f64 {
        self.0[phase as usize]
    }
}

/// Returns the seconds recorded per phase and sets them back to zero.
pub fn take() -> Totals {
    let mut totals = [0.0; 4];
    for (t, n) in totals.iter_mut().zip(&NANOS) {
        *t = n.swap(0, Ordering::Relaxed) as f64 * 1e-9;
    }
    TOTAL.store(0, Ordering::Relaxed);
    Totals(totals)
}
