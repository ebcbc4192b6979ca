//! [`Communicator`] over threads of one process: each thread is a rank. For tests and for
//! trying data-parallel code without MPI; the collectives block on a shared barrier, so every
//! rank must make the same calls in the same order, as under MPI. A rank that panics or returns
//! early leaves the others waiting (a barrier is not poisoned): check with
//! [`super::all_ok`] where ranks may fail differently.

use std::sync::{Arc, Barrier, Mutex, PoisonError};

use super::Communicator;

/// One rank of a group of threads (see [`ThreadRanks::group`]).
///
/// ```
/// use deeptrain::distributed::{Communicator, ThreadRanks};
/// let handles: Vec<_> = ThreadRanks::group(3)
///     .into_iter()
///     .map(|rank| {
///         std::thread::spawn(move || {
///             let mut v = [rank.rank() as f64 + 1.0];
///             rank.sum_f64(&mut v);
///             v[0]
///         })
///     })
///     .collect();
/// for h in handles {
///     assert_eq!(h.join().unwrap(), 6.0);
/// }
/// ```
pub struct ThreadRanks {
    rank: usize,
    shared: Arc<Shared>,
}

struct Shared {
    size: usize,
    barrier: Barrier,
    numbers: Mutex<Vec<f64>>,
    bytes: Mutex<Vec<u8>>,
}

impl ThreadRanks {
    /// `size` ranks, to be moved one into each thread.
    pub fn group(size: usize) -> Vec<ThreadRanks> {
        let shared = Arc::new(Shared {
            size: size.max(1),
            barrier: Barrier::new(size.max(1)),
            numbers: Mutex::new(Vec::new()),
            bytes: Mutex::new(Vec::new()),
        });
        (0..size.max(1))
            .map(|rank| ThreadRanks {
                rank,
                shared: shared.clone(),
            })
            .collect()
    }

    /// Combines `values` over the ranks with `op`, starting from `identity`, in place.
    fn reduce(&self, values: &mut [f64], identity: f64, op: fn(f64, f64) -> f64) {
        let numbers = || {
            self.shared
                .numbers
                .lock()
                .unwrap_or_else(PoisonError::into_inner)
        };
        self.shared.barrier.wait();
        if self.rank == 0 {
            *numbers() = vec![identity; values.len()];
        }
        self.shared.barrier.wait();
        // Rank order, so that the sum is the same on every run.
        for turn in 0..self.shared.size {
            if turn == self.rank {
                let mut acc = numbers();
                acc.iter_mut()
                    .zip(values.iter())
                    .for_each(|(a, &v)| *a = op(*a, v));
            }
            self.shared.barrier.wait();
        }
        values.copy_from_slice(&numbers());
        self.shared.barrier.wait();
    }
}

impl Communicator for ThreadRanks {
    fn rank(&self) -> usize {
        self.rank
    }

    fn size(&self) -> usize {
        self.shared.size
    }

    fn sum_f32(&self, values: &mut [f32]) {
        let mut wide: Vec<f64> = values.iter().map(|&v| f64::from(v)).collect();
        self.sum_f64(&mut wide);
        values.iter_mut().zip(wide).for_each(|(v, w)| *v = w as f32);
    }

    fn sum_f64(&self, values: &mut [f64]) {
        self.reduce(values, 0.0, |a, b| a + b);
    }

    fn max_f64(&self, values: &mut [f64]) {
        self.reduce(values, f64::NEG_INFINITY, f64::max);
    }

    fn broadcast_f32(&self, values: &mut [f32]) {
        let mut bytes: Vec<u8> = values.iter().flat_map(|v| v.to_le_bytes()).collect();
        self.broadcast_bytes(&mut bytes);
        for (v, b) in values.iter_mut().zip(bytes.chunks_exact(4)) {
            *v = f32::from_le_bytes([b[0], b[1], b[2], b[3]]);
        }
    }

    fn broadcast_bytes(&self, bytes: &mut Vec<u8>) {
        let shared = || {
            self.shared
                .bytes
                .lock()
                .unwrap_or_else(PoisonError::into_inner)
        };
        self.shared.barrier.wait();
        if self.rank == 0 {
            shared().clone_from(bytes);
        }
        self.shared.barrier.wait();
        if self.rank != 0 {
            bytes.clone_from(&shared());
        }
        self.shared.barrier.wait();
    }
}
