//! [`Communicator`] over MPI (the `mpi` crate, rsmpi, on the system's Open MPI).

use std::sync::{Mutex, MutexGuard};

use mpi::collective::SystemOperation;
use mpi::environment::Universe;
use mpi::topology::SimpleCommunicator;
use mpi::traits::{Communicator as _, CommunicatorCollectives as _, Root as _};
use mpi::Threading;

use super::Communicator;
use crate::{Error, Result};

/// The MPI world: every process `mpirun` started. MPI is finalized when it is dropped (drop it
/// on the thread that created it, as MPI asks of `MPI_Finalize`).
pub struct MpiCommunicator {
    rank: usize,
    size: usize,
    /// The world and the send buffers. Every MPI call is made holding this lock, so calls from
    /// several threads never overlap (MPI is initialized with `Threading::Serialized`).
    calls: Mutex<Calls>,
    // Dropped last: finalizes MPI.
    _universe: Universe,
}

/// What an MPI call needs: the world, and send buffers for the sums (MPI reduces from one
/// buffer into another), grown once.
struct Calls {
    world: SimpleCommunicator,
    send_f32: Vec<f32>,
    send_f64: Vec<f64>,
}

// SAFETY: the world handle is only used under `calls`' lock, so no two threads call MPI at the
// same time, which is what `Threading::Serialized` (asked for at initialization) allows; rank
// and size are plain numbers read once.
unsafe impl Send for MpiCommunicator {}
// SAFETY: as for `Send`: shared references reach MPI only through the lock.
unsafe impl Sync for MpiCommunicator {}

impl MpiCommunicator {
    /// Initializes MPI (calls from several threads are serialized by a lock). Fails when MPI was
    /// already initialized in this process.
    pub fn initialize() -> Result<MpiCommunicator> {
        let (universe, _) = mpi::initialize_with_threading(Threading::Serialized)
            .ok_or_else(|| Error::Config("MPI was already initialized in this process".into()))?;
        let world = universe.world();
        Ok(MpiCommunicator {
            rank: world.rank() as usize,
            size: world.size() as usize,
            calls: Mutex::new(Calls {
                world,
                send_f32: Vec::new(),
                send_f64: Vec::new(),
            }),
            _universe: universe,
        })
    }

    /// The lock every MPI call is made under (a panic in another call does not poison it: the
    /// buffers are rewritten before each use).
    fn calls(&self) -> MutexGuard<'_, Calls> {
        self.calls.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// `values` combined element-wise over the ranks with `op`, in place (MPI_Allreduce).
    fn all_reduce_f64(&self, values: &mut [f64], op: SystemOperation) {
        if values.is_empty() {
            return;
        }
        let mut calls = self.calls();
        let Calls {
            world, send_f64, ..
        } = &mut *calls;
        send_f64.clear();
        send_f64.extend_from_slice(values);
        world.all_reduce_into(&send_f64[..], values, op);
    }

    /// Ends every rank at once with `code` (MPI_Abort), for an error only this rank has.
    pub fn abort(&self, code: i32) -> ! {
        self.calls().world.abort(code)
    }
}

impl Communicator for MpiCommunicator {
    fn rank(&self) -> usize {
        self.rank
    }

    fn size(&self) -> usize {
        self.size
    }

    fn sum_f32(&self, values: &mut [f32]) {
        if values.is_empty() {
            return;
        }
        let mut calls = self.calls();
        let Calls {
            world, send_f32, ..
        } = &mut *calls;
        send_f32.clear();
        send_f32.extend_from_slice(values);
        world.all_reduce_into(&send_f32[..], values, SystemOperation::sum());
    }

    fn sum_f64(&self, values: &mut [f64]) {
        self.all_reduce_f64(values, SystemOperation::sum());
    }

    fn max_f64(&self, values: &mut [f64]) {
        self.all_reduce_f64(values, SystemOperation::max());
    }

    fn broadcast_f32(&self, values: &mut [f32]) {
        if !values.is_empty() {
            self.calls().world.process_at_rank(0).broadcast_into(values);
        }
    }

    fn broadcast_bytes(&self, bytes: &mut Vec<u8>) {
        let calls = self.calls();
        let root = calls.world.process_at_rank(0);
        let mut len = bytes.len() as u64;
        root.broadcast_into(&mut len);
        bytes.resize(len as usize, 0);
        if len > 0 {
            root.broadcast_into(&mut bytes[..]);
        }
    }
}
