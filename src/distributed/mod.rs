//! Data-parallel training across processes: every process (rank) holds a replica of the model,
//! trains on its share of each global batch, and the ranks sum their gradients before every
//! update, as Horovod and PyTorch's DistributedDataParallel do.
//!
//! The library sees the ranks only through [`Communicator`]; the MPI implementation
//! (`mpi::MpiCommunicator`, cargo feature `mpi`) runs it over Open MPI, started by
//! `mpirun -n N deeptrain train spec.toml`. With one rank, or without a communicator, training
//! is exactly the single-process one.
//!
//! What every rank must agree on, and how it is kept so:
//! - **Weights**: rank 0's initial weights (or checkpoint) are broadcast at start-up; every
//!   step sums the same gradients on every rank and applies the same update, and a fingerprint
//!   of the weights is compared across ranks at every epoch's end.
//! - **The batch**: every rank shuffles with the same seed, so all see the same global order;
//!   rank r takes the r-th contiguous share of each global batch ([`share`]). Each rank's
//!   gradient (a mean over its share) is weighted by `share / batch` before the sum, so the
//!   sum is the gradient of the global batch's mean loss, as one process computes it.
//! - **Random streams** (dropout, noise, RReLU, augmentation) are distinct per rank and
//!   reproducible: reseeded at every epoch's start from (seed, epoch, rank).
//! - **Batch-norm moving statistics** are averaged over the ranks at every epoch's end (each
//!   rank normalizes its share with its own batch statistics, as DDP without SyncBatchNorm).
//! - **Metrics and losses** are summed over the ranks at every epoch's end; rank 0 evaluates the
//!   validation data and broadcasts the epoch's logs, so callbacks (early stopping, on-plateau
//!   schedules) decide the same on every rank, and rank 0's decision to stop is broadcast.

pub mod files;
#[cfg(feature = "mpi")]
pub mod mpi;
mod threads;

pub use threads::ThreadRanks;

use std::ops::Range;

use crate::{Error, Result};

/// The collective operations data-parallel training needs. Every rank must make the same
/// calls in the same order (they block until all ranks arrive). `Send + Sync`, so that what holds
/// one (an [`crate::Experiment`], [`crate::FitOptions`]) may move to another thread.
pub trait Communicator: Send + Sync {
    /// This process's rank, from 0.
    fn rank(&self) -> usize;
    /// The number of ranks.
    fn size(&self) -> usize;
    /// Sums `values` element-wise over the ranks, in place; every rank gets the same sums.
    fn sum_f32(&self, values: &mut [f32]);
    /// [`Communicator::sum_f32`] in double precision.
    fn sum_f64(&self, values: &mut [f64]);
    /// The element-wise maximum of `values` over the ranks, in place, on every rank.
    fn max_f64(&self, values: &mut [f64]);
    /// Overwrites `values` on every rank with rank 0's (the same length on every rank).
    fn broadcast_f32(&self, values: &mut [f32]);
    /// Rank 0's bytes on every rank (any length).
    fn broadcast_bytes(&self, bytes: &mut Vec<u8>);
}

impl std::fmt::Debug for dyn Communicator {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "rank {} of {}", self.rank(), self.size())
    }
}

/// The rank's part of a global batch of `len` samples: contiguous, the sizes differing by at
/// most one, the larger ones first (rank r of n gets `len/n` plus one if `r < len % n`).
pub fn share(len: usize, rank: usize, ranks: usize) -> Range<usize> {
    let (base, extra) = (len / ranks, len % ranks);
    let start = rank * base + rank.min(extra);
    start..start + base + usize::from(rank < extra)
}

/// The rank's block of `rows` training rows when each rank holds only its own (sharded data):
/// the rows it trains in one epoch of global batches of `batch`, taking its [`share`] of each,
/// |block(r)| = ⌊rows / batch⌋ · |share(batch, r)| + |share(rows mod batch, r)|. The blocks are
/// contiguous and in rank order, and cover `0..rows`; a block is empty when `batch` (or the
/// rows) are fewer than the ranks.
///
/// ```
/// use deeptrain::distributed::shard;
/// // 10 rows, batches of 4 (4, 4, 2) over 3 ranks: shares (2,1,1), (2,1,1), (1,1,0).
/// assert_eq!([shard(10, 4, 0, 3), shard(10, 4, 1, 3), shard(10, 4, 2, 3)], [0..5, 5..8, 8..10]);
/// ```
pub fn shard(rows: usize, batch: usize, rank: usize, ranks: usize) -> Range<usize> {
    let batch = batch.max(1);
    let block = |r: usize| {
        (rows / batch) * share(batch, r, ranks).len() + share(rows % batch, r, ranks).len()
    };
    let start = (0..rank).map(block).sum::<usize>();
    start..start + block(rank)
}

/// `result` on every rank when it is `Ok` on all, else an error on every rank: its own on a
/// rank that failed, one naming the failed ranks on the others. A check whose outcome differs
/// between ranks (each holding its own rows) then cannot leave some ranks waiting in the next
/// collective for ranks that returned.
pub fn all_ok<T>(comm: &dyn Communicator, result: Result<T>) -> Result<T> {
    let mut failed = vec![0.0; comm.size()];
    if result.is_err() {
        failed[comm.rank()] = 1.0;
    }
    comm.sum_f64(&mut failed);
    let ranks: Vec<String> = (0..failed.len())
        .filter(|&r| failed[r] > 0.0)
        .map(|r| r.to_string())
        .collect();
    match result {
        Ok(_) if !ranks.is_empty() => Err(Error::Data(format!(
            "rank {} of {} failed (its message says why), so this rank stops too",
            ranks.join(", "),
            comm.size()
        ))),
        other => other,
    }
}

/// The number of processes an MPI launcher (`mpirun`, `srun`) started this one among, if it
/// did (Open MPI's `OMPI_COMM_WORLD_SIZE`, PMI's `PMI_SIZE`).
pub fn launched_ranks() -> Option<usize> {
    ["OMPI_COMM_WORLD_SIZE", "PMI_SIZE"]
        .iter()
        .find_map(|v| std::env::var(v).ok()?.parse().ok())
}

/// The number of ranks the launcher started on this machine (Open MPI's
/// `OMPI_COMM_WORLD_LOCAL_SIZE`, MPICH's `MPI_LOCALNRANKS`), if it says.
pub fn local_ranks() -> Option<usize> {
    ["OMPI_COMM_WORLD_LOCAL_SIZE", "MPI_LOCALNRANKS"]
        .iter()
        .find_map(|v| std::env::var(v).ok()?.parse().ok())
}

/// Whether the values agree on every rank: rank 0's `value` is broadcast and each rank
/// compares; returns how many ranks differ from rank 0.
pub fn ranks_differing(comm: &dyn Communicator, value: u64) -> usize {
    let mut bytes = value.to_le_bytes().to_vec();
    comm.broadcast_bytes(&mut bytes);
    let root = u64::from_le_bytes(bytes.try_into().unwrap_or([0; 8]));
    let mut differ = [f64::from(u8::from(root != value))];
    comm.sum_f64(&mut differ);
    differ[0] as usize
}

/// A 64-bit FNV-1a hash of `bytes` (to compare binaries, specs and data across ranks).
pub fn fingerprint(bytes: &[u8]) -> u64 {
    let mut hash = FNV_OFFSET;
    fnv_extend(&mut hash, bytes);
    hash
}

const FNV_OFFSET: u64 = 0xcbf2_9ce4_8422_2325;

/// Folds `bytes` into an FNV-1a hash.
pub fn fnv_extend(hash: &mut u64, bytes: &[u8]) {
    for &b in bytes {
        *hash ^= u64::from(b);
        *hash = hash.wrapping_mul(0x0000_0100_0000_01b3);
    }
}

/// A seed for rank `rank`'s random streams in epoch `epoch` (SplitMix64 over the three).
pub fn stream_seed(seed: u64, epoch: usize, rank: usize) -> u64 {
    let mut z = seed
        ^ (epoch as u64).wrapping_mul(0x9E37_79B9_7F4A_7C15)
        ^ (rank as u64 + 1).wrapping_mul(0xD1B5_4A32_D192_ED03);
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^ (z >> 31)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shares_cover_the_batch_in_order() {
        for len in 0..20 {
            for ranks in 1..6 {
                let parts: Vec<_> = (0..ranks).map(|r| share(len, r, ranks)).collect();
                assert_eq!(parts[0].start, 0);
                assert_eq!(parts[ranks - 1].end, len);
                for w in parts.windows(2) {
                    assert_eq!(w[0].end, w[1].start);
                    assert!(w[0].len() >= w[1].len() && w[0].len() - w[1].len() <= 1);
                }
            }
        }
        assert_eq!(share(10, 1, 3), 4..7);
    }

    #[test]
    fn shards_cover_the_rows_and_hold_each_ranks_shares() {
        for rows in 0..40 {
            for batch in 1..9 {
                for ranks in 1..5 {
                    let blocks: Vec<_> = (0..ranks).map(|r| shard(rows, batch, r, ranks)).collect();
                    assert_eq!(blocks[0].start, 0);
                    assert_eq!(blocks[ranks - 1].end, rows);
                    for w in blocks.windows(2) {
                        assert_eq!(w[0].end, w[1].start);
                    }
                    // Each block is exactly the rank's shares of the epoch's batches.
                    for (r, block) in blocks.iter().enumerate() {
                        let shares: usize = (0..rows)
                            .step_by(batch)
                            .map(|s| share(batch.min(rows - s), r, ranks).len())
                            .sum();
                        assert_eq!(block.len(), shares);
                    }
                }
            }
        }
    }

    #[test]
    fn stream_seeds_differ_by_rank_and_epoch() {
        let seeds = [
            stream_seed(7, 0, 0),
            stream_seed(7, 0, 1),
            stream_seed(7, 1, 0),
            stream_seed(8, 0, 0),
        ];
        for i in 0..seeds.len() {
            for j in 0..i {
                assert_ne!(seeds[i], seeds[j]);
            }
        }
    }
}
