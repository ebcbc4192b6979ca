//! [`Communicator`] over MPI (the `mpi` crate, rsmpi, on the system's Open MPI).

use std::cell::RefCell;

use mpi::collective::SystemOperation;
use mpi::environment::Universe;
use mpi::topology::SimpleCommunicator;
use mpi::traits::{Communicator as _, CommunicatorCollectives as _, Root as _};
use mpi::Threading;

use super::Communicator;
use crate::{Error, Result};

/// The MPI world: every process `mpirun` started. MPI is finalized when it is dropped.
pub struct MpiCommunicator {
    world: SimpleCommunicator,
    /// Send buffers for the sums (MPI reduces from one buffer into another), grown once.
    send_f32: RefCell<Vec<f32>>,
    send_f64: RefCell<Vec<f64>>,
    // Dropped last: finalizes MPI.
    _universe: Universe,
}

impl MpiCommunicator {
    /// Initializes MPI (only the calling thread makes MPI calls). Fails when MPI was already
    /// initialized in this process.
    pub fn initialize() -> Result<MpiCommunicator> {
        let (universe, _) = mpi::initialize_with_threading(Threading::Funneled)
            .ok_or_else(|| Error::Config("MPI was already initialized in this process".into()))?;
        Ok(MpiCommunicator {
            world: universe.world(),
            send_f32: RefCell::new(Vec::new()),
            send_f64: RefCell::new(Vec::new()),
            _universe: universe,
        })
    }

    /// `values` combined element-wise over the ranks with `op`, in place (MPI_Allreduce).
    fn all_reduce_f64(&self, values: &mut [f64], op: SystemOperation) {
        if values.is_empty() {
            return;
        }
        let mut send = self.send_f64.borrow_mut();
        send.clear();
        send.extend_from_slice(values);
        self.world.all_reduce_into(&send[..], values, op);
    }

    /// Ends every rank at once with `code` (MPI_Abort), for an error only this rank has.
    pub fn abort(&self, code: i32) -> ! {
        self.world.abort(code)
    }
}

impl Communicator for MpiCommunicator {
    fn rank(&self) -> usize {
        self.world.rank() as usize
    }

    fn size(&self) -> usize {
        self.world.size() as usize
    }

    fn sum_f32(&self, values: &mut [f32]) {
        if values.is_empty() {
            return;
        }
        let mut send = self.send_f32.borrow_mut();
        send.clear();
        send.extend_from_slice(values);
        self.world
            .all_reduce_into(&send[..], values, SystemOperation::sum());
    }

    fn sum_f64(&self, values: &mut [f64]) {
        self.all_reduce_f64(values, SystemOperation::sum());
    }

    fn max_f64(&self, values: &mut [f64]) {
        self.all_reduce_f64(values, SystemOperation::max());
    }

    fn broadcast_f32(&self, values: &mut [f32]) {
        if !values.is_empty() {
            self.world.process_at_rank(0).broadcast_into(values);
        }
    }

    fn broadcast_bytes(&self, bytes: &mut Vec<u8>) {
        let root = self.world.process_at_rank(0);
        let mut len = bytes.len() as u64;
        root.broadcast_into(&mut len);
        bytes.resize(len as usize, 0);
        if len > 0 {
            root.broadcast_into(&mut bytes[..]);
        }
    }
}
