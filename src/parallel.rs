//! The engine's thread pool: run `parts` pieces of one job on the calling thread and the pool's
//! workers, and return when all are done.
//!
//! Why not rayon (which the `gemm` crate uses for its own threading): a training step of a
//! batch-32 network issues a few thousand small jobs per second, each 20–200 µs long. Rayon's
//! caller blocks on a lock while its workers, asleep between jobs, are woken through the kernel;
//! on the 2-core development machine that round trip cost a quarter of the step
//! (`perf record` of `deeptrain bench --models a`: futex wake-ups and `sched_yield`). Here the
//! caller works on the job itself, and the workers spin for a short while after each job
//! ([`SPIN_BEFORE_SLEEP`]) so the next one starts without a system call; only then do they
//! sleep on a condition variable.
//!
//! Parts are dealt out by thread (thread t of T runs parts t, t + T, …), so a part usually runs
//! on the same thread every time; each is claimed with one bit of an atomic word first, so a
//! part runs once and a free thread takes over the part of one that is late. What a part
//! computes never depends on the thread that runs it. A job started while the pool is busy
//! (from inside a part, or from a second thread) runs its parts serially on its own thread.

use std::any::Any;
use std::cell::UnsafeCell;
use std::panic::{catch_unwind, resume_unwind, AssertUnwindSafe};
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::sync::{Condvar, Mutex, OnceLock};
use std::time::{Duration, Instant};

/// How long an idle worker keeps polling for the next job before it sleeps.
pub const SPIN_BEFORE_SLEEP: Duration = Duration::from_micros(200);

static THREADS: AtomicUsize = AtomicUsize::new(0);

/// Sets how many threads the engine may use (0 = all cores, the default).
pub fn set_num_threads(threads: usize) {
    THREADS.store(threads, Ordering::Relaxed);
}

/// The number of threads the engine may use.
pub fn num_threads() -> usize {
    match THREADS.load(Ordering::Relaxed) {
        0 => cores(),
        n => n,
    }
}

/// The cores this process may use, read once: `available_parallelism` reads the cgroup's CPU
/// quota from the file system on every call, too slow for every matrix product.
fn cores() -> usize {
    static CORES: OnceLock<usize> = OnceLock::new();
    *CORES.get_or_init(|| {
        std::thread::available_parallelism()
            .map(|n| n.get())
            .unwrap_or(1)
    })
}

/// A job as the workers see it: a borrowed closure whose lifetime the caller guarantees by not
/// returning before every part is done.
type JobRef = *const (dyn Fn(usize) + Sync);

/// The job word: epoch (32 bits) | number of parts (16 bits) | threads taking part (16 bits).
const PARTS_SHIFT: u32 = 16;
const EPOCH_SHIFT: u32 = 32;
const FIELD: u64 = 0xFFFF;

/// The most parts one job is dealt out in (one claim bit each); a job of more parts is run as
/// this many groups.
pub const MAX_PARTS: usize = 32;

struct Pool {
    word: AtomicU64,
    /// The parts of the current job already taken: epoch (32 bits) | one bit per part.
    claims: AtomicU64,
    done: AtomicUsize,
    /// Set when a part of the current job panicked.
    panicked: AtomicBool,
    job: UnsafeCell<JobRef>,
    /// Held by the one thread whose job is running.
    busy: Mutex<()>,
    workers: Mutex<usize>,
    sleepers: AtomicUsize,
    wake: Condvar,
    wake_lock: Mutex<()>,
}

// SAFETY: `job` is written only by the thread holding `busy`, before the job's epoch is published
// (SeqCst) and never while a part of the previous job is unfinished; a worker reads it only for
// an epoch in which it has parts to run, i.e. while the caller is still waiting for them.
unsafe impl Sync for Pool {}
// SAFETY: as for Sync; the pointer in `job` is only dereferenced under the rules above.
unsafe impl Send for Pool {}

fn no_job(_: usize) {}
static NO_JOB: fn(usize) = no_job;

fn pool() -> &'static Pool {
    static POOL: OnceLock<Pool> = OnceLock::new();
    POOL.get_or_init(|| Pool {
        word: AtomicU64::new(0),
        claims: AtomicU64::new(0),
        done: AtomicUsize::new(0),
        panicked: AtomicBool::new(false),
        job: UnsafeCell::new(&NO_JOB as &(dyn Fn(usize) + Sync)),
        busy: Mutex::new(()),
        workers: Mutex::new(0),
        sleepers: AtomicUsize::new(0),
        wake: Condvar::new(),
        wake_lock: Mutex::new(()),
    })
}

fn epoch_of(word: u64) -> u64 {
    word >> EPOCH_SHIFT
}

impl Pool {
    /// Starts workers until there are `wanted` of them.
    fn ensure_workers(&'static self, wanted: usize) {
        let mut workers = self.workers.lock().unwrap_or_else(|e| e.into_inner());
        while *workers < wanted {
            let index = *workers + 1;
            // The epoch is read here, before the caller publishes its job: a worker that read
            // it only once running could take that job for one it had already done.
            let seen = epoch_of(self.word.load(Ordering::Acquire));
            let spawned = std::thread::Builder::new()
                .name(format!("deeptrain-{index}"))
                .spawn(move || self.work(index, seen));
            if spawned.is_err() {
                break;
            }
            *workers += 1;
        }
    }

    /// Takes part `part` of the job of `epoch`, unless another thread has taken it or that job
    /// is over.
    fn claim(&self, epoch: u64, part: usize) -> bool {
        let bit = 1u64 << part;
        let mut claims = self.claims.load(Ordering::Acquire);
        loop {
            if epoch_of(claims) != epoch || claims & bit != 0 {
                return false;
            }
            match self.claims.compare_exchange_weak(
                claims,
                claims | bit,
                Ordering::AcqRel,
                Ordering::Acquire,
            ) {
                Ok(_) => return true,
                Err(now) => claims = now,
            }
        }
    }

    /// Runs parts of the job described by `word`: first this thread's own (parts `index`,
    /// `index + threads`, …; the caller is thread 0), then any that no thread has started, so
    /// that a worker that is asleep or descheduled delays nobody.
    ///
    /// A panic in a part is caught, so that the parts are always counted done (the caller
    /// never waits forever, nor returns while another thread still uses its closure); the
    /// caller then panics in turn. Returns the first caught panic.
    fn run_parts(&self, word: u64, index: usize) -> Option<Box<dyn Any + Send>> {
        let epoch = epoch_of(word);
        let parts = ((word >> PARTS_SHIFT) & FIELD) as usize;
        let threads = (word & FIELD) as usize;
        let own = (index..parts).step_by(threads.max(1));
        let mut caught = None;
        let mut ran = 0;
        for part in own.chain(0..parts) {
            if !self.claim(epoch, part) {
                continue;
            }
            // SAFETY: this thread holds an unfinished part of the job, so its caller is still
            // waiting and the closure behind the pointer is alive.
            let job = unsafe { &**self.job.get() };
            if let Err(panic) = catch_unwind(AssertUnwindSafe(|| job(part))) {
                self.panicked.store(true, Ordering::Relaxed);
                caught.get_or_insert(panic);
            }
            ran += 1;
        }
        if ran > 0 {
            self.done.fetch_add(ran, Ordering::Release);
        }
        caught
    }

    fn work(&self, index: usize, mut seen: u64) {
        crate::profile::mark_worker();
        loop {
            let spin_start = Instant::now();
            let mut spins = 0u32;
            let word = loop {
                let word = self.word.load(Ordering::Acquire);
                if epoch_of(word) != seen {
                    break word;
                }
                std::hint::spin_loop();
                spins = spins.wrapping_add(1);
                if spins % 64 == 0 && spin_start.elapsed() > SPIN_BEFORE_SLEEP {
                    let mut guard = self.wake_lock.lock().unwrap_or_else(|e| e.into_inner());
                    self.sleepers.fetch_add(1, Ordering::SeqCst);
                    while epoch_of(self.word.load(Ordering::SeqCst)) == seen {
                        guard = self.wake.wait(guard).unwrap_or_else(|e| e.into_inner());
                    }
                    self.sleepers.fetch_sub(1, Ordering::SeqCst);
                    drop(guard);
                    break self.word.load(Ordering::Acquire);
                }
            };
            seen = epoch_of(word);
            // A panic was caught and reported to the caller; the worker carries on.
            let _ = self.run_parts(word, index);
        }
    }
}

/// Runs `part(0)`, …, `part(parts - 1)`, spread over at most [`num_threads`] threads (the
/// calling one included), and returns when all have finished. Thread t of T runs parts t,
/// t + T, …, so the same thread gets the same part each time, which keeps its data in that
/// core's cache from one step to the next; a part whose thread has not started it when another
/// thread is free is taken by that one.
pub fn for_each_part(parts: usize, part: &(dyn Fn(usize) + Sync)) {
    if parts > MAX_PARTS {
        for_each_part(MAX_PARTS, &|group| {
            (group..parts).step_by(MAX_PARTS).for_each(part);
        });
        return;
    }
    let threads = num_threads().min(parts);
    let pool = pool();
    let guard = if threads > 1 {
        pool.busy.try_lock().ok()
    } else {
        None
    };
    let Some(_guard) = guard else {
        (0..parts).for_each(part);
        return;
    };
    pool.ensure_workers(threads - 1);
    let threads = threads.min(*pool.workers.lock().unwrap_or_else(|e| e.into_inner()) + 1);
    // SAFETY: only the holder of `busy` writes `job`, and no part of the previous job is pending
    // (its caller returned only after all were done). The lifetime is erased: this function
    // does not return before every part of the job, the only users of the pointer, is done.
    unsafe {
        *pool.job.get() = std::mem::transmute::<&(dyn Fn(usize) + Sync), JobRef>(part);
    }
    pool.done.store(0, Ordering::Relaxed);
    let epoch = (epoch_of(pool.word.load(Ordering::Relaxed)) + 1) & 0xFFFF_FFFF;
    pool.claims.store(epoch << EPOCH_SHIFT, Ordering::Release);
    let word = (epoch << EPOCH_SHIFT) | ((parts as u64) << PARTS_SHIFT) | threads as u64;
    pool.word.store(word, Ordering::SeqCst);
    if pool.sleepers.load(Ordering::SeqCst) > 0 {
        let _lock = pool.wake_lock.lock().unwrap_or_else(|e| e.into_inner());
        pool.wake.notify_all();
    }
    let own_panic = pool.run_parts(word, 0);
    let waiting = crate::profile::start();
    let mut spins = 0u32;
    while pool.done.load(Ordering::Acquire) < parts {
        // A worker holding a part may have been descheduled (more busy threads than cores):
        // after a short spin, give it the core instead of burning it.
        spins = spins.saturating_add(1);
        if spins < 4096 {
            std::hint::spin_loop();
        } else {
            std::thread::yield_now();
        }
    }
    waiting.stop(crate::profile::Phase::Waiting);
    let panicked = pool.panicked.swap(false, Ordering::Relaxed);
    if let Some(payload) = own_panic {
        resume_unwind(payload);
    }
    assert!(
        !panicked,
        "a part of a parallel job panicked on a worker thread"
    );
}

/// Splits `0..len` into at most [`num_threads`] ranges of at least `min_len` items (each a
/// multiple of `align`, but the last) and runs `f` on each, in parallel.
pub fn for_each_range(
    len: usize,
    min_len: usize,
    align: usize,
    f: &(dyn Fn(std::ops::Range<usize>) + Sync),
) {
    let parts = ranges(len, min_len, align, num_threads());
    if parts <= 1 {
        f(0..len);
        return;
    }
    let step = len.div_ceil(parts).next_multiple_of(align.max(1));
    for_each_part(parts, &|i| {
        let start = (i * step).min(len);
        f(start..((i + 1) * step).min(len));
    });
}

/// How many ranges [`for_each_range`] uses.
fn ranges(len: usize, min_len: usize, align: usize, threads: usize) -> usize {
    let by_size = len / min_len.max(1);
    let parts = by_size.clamp(1, threads.max(1));
    // With alignment, fewer non-empty parts may result.
    let step = len.div_ceil(parts).next_multiple_of(align.max(1));
    len.div_ceil(step.max(1)).max(1)
}

/// Element-wise work on fewer elements than this stays on one thread: splitting costs about a
/// microsecond, what a memory-bound pass over ~10 000 floats takes.
pub const PARALLEL_MIN_ELEMENTS: usize = 32_768;

/// The most buffers [`zip_pieces`] splits beside the value and the gradient.
pub const MAX_BUFFERS: usize = 4;

/// An update of one piece: (values, gradients, buffers), all the same length.
pub type PieceUpdate<'a> = dyn Fn(&mut [f32], &[f32], &mut [&mut [f32]]) + Sync + 'a;

/// Runs `f` on matching pieces of `value`, `grad` and every buffer (all the same length), in
/// parallel for long tensors: an optimizer's update, one pass per piece. Each element is
/// computed the same way whatever the split, so the result does not depend on the thread count.
pub fn zip_pieces(value: &mut [f32], grad: &[f32], buffers: &mut [Vec<f32>], f: &PieceUpdate<'_>) {
    let len = value.len();
    let count = buffers.len();
    assert!(
        grad.len() == len && count <= MAX_BUFFERS && buffers.iter().all(|b| b.len() == len),
        "a value, its gradient and its buffers differ in length"
    );
    let value = SharedMut::new(value);
    let mut shared = [SharedMut(std::ptr::null_mut()); MAX_BUFFERS];
    for (ptr, buffer) in shared.iter_mut().zip(buffers.iter_mut()) {
        *ptr = SharedMut::new(buffer);
    }
    for_each_range(len, PARALLEL_MIN_ELEMENTS, 16, &|range| {
        // SAFETY: for_each_range hands out disjoint ranges within 0..len, and every slice
        // behind these pointers is `len` long.
        let mut pieces: [&mut [f32]; MAX_BUFFERS] = std::array::from_fn(|i| {
            if i < count {
                unsafe { shared[i].slice(range.clone()) }
            } else {
                Default::default()
            }
        });
        let value = unsafe { value.slice(range.clone()) };
        f(value, &grad[range], &mut pieces[..count]);
    });
}

/// Fills `data` with `v`, in parallel when long.
pub fn fill(data: &mut [f32], v: f32) {
    chunks_mut(data, PARALLEL_MIN_ELEMENTS, 16, &|_, chunk| chunk.fill(v));
}

/// A raw pointer that may cross to the pool's threads; users keep the regions they touch
/// disjoint. Private to the crate: the only way to reach it from outside is [`chunks_mut`].
#[derive(Clone, Copy)]
pub(crate) struct SharedMut<T: Send>(*mut T);

// SAFETY: a plain address of `T`s that may themselves move between threads (`T: Send`); every
// dereference is in an `unsafe` block whose caller keeps the regions written by different
// parts disjoint, so no two threads reach the same `T`.
unsafe impl<T: Send> Send for SharedMut<T> {}
// SAFETY: as for `Send`: a shared `SharedMut` hands out only disjoint regions.
unsafe impl<T: Send> Sync for SharedMut<T> {}

impl<T: Send> SharedMut<T> {
    /// Wraps the start of `slice`.
    pub(crate) fn new(slice: &mut [T]) -> Self {
        SharedMut(slice.as_mut_ptr())
    }

    /// The address `offset` elements in.
    ///
    /// # Safety
    /// `offset` must be within the slice this was made from.
    pub(crate) unsafe fn add(self, offset: usize) -> *mut T {
        // SAFETY: the caller keeps `offset` in bounds.
        unsafe { self.0.add(offset) }
    }

    /// The sub-slice `range` of the slice this was made from.
    ///
    /// # Safety
    /// `range` must be within that slice, and no other live reference may overlap it.
    #[allow(clippy::mut_from_ref)]
    pub(crate) unsafe fn slice(&self, range: std::ops::Range<usize>) -> &mut [T] {
        // SAFETY: the caller keeps the range in bounds and unshared.
        unsafe { std::slice::from_raw_parts_mut(self.0.add(range.start), range.len()) }
    }
}

/// Applies `f` to disjoint chunks of `data` in parallel: each chunk starts at a multiple of
/// `align` and holds at least `min_len` elements (when `data` has that many). `f` gets the
/// chunk's offset in `data` and the chunk.
pub fn chunks_mut<T: Send>(
    data: &mut [T],
    min_len: usize,
    align: usize,
    f: &(dyn Fn(usize, &mut [T]) + Sync),
) {
    let len = data.len();
    let shared = SharedMut::new(data);
    for_each_range(len, min_len, align, &|range| {
        let start = range.start;
        // SAFETY: for_each_range hands out disjoint ranges within 0..len.
        f(start, unsafe { shared.slice(range) });
    });
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::AtomicU32;

    #[test]
    fn every_part_runs_exactly_once() {
        set_num_threads(2);
        for parts in [1, 2, 3, 7, 64] {
            let hits: Vec<AtomicU32> = (0..parts).map(|_| AtomicU32::new(0)).collect();
            for _ in 0..200 {
                for_each_part(parts, &|i| {
                    hits[i].fetch_add(1, Ordering::Relaxed);
                });
            }
            assert!(hits.iter().all(|h| h.load(Ordering::Relaxed) == 200));
        }
    }

    #[test]
    fn a_panicking_part_panics_the_caller_and_the_pool_recovers() {
        set_num_threads(2);
        for bad in [0, 1] {
            let result = std::panic::catch_unwind(|| {
                for_each_part(2, &|i| assert_ne!(i, bad, "part {i} fails"));
            });
            assert!(result.is_err(), "part {bad} panicked; the caller must too");
        }
        let total = AtomicU32::new(0);
        for_each_part(2, &|_| {
            total.fetch_add(1, Ordering::Relaxed);
        });
        assert_eq!(total.load(Ordering::Relaxed), 2);
    }

    #[test]
    fn more_threads_than_cores_still_run_every_part_once() {
        // Other tests set 2 threads concurrently; whichever count wins, each part runs once.
        set_num_threads(5);
        for parts in [2, 5, 33] {
            let hits: Vec<AtomicU32> = (0..parts).map(|_| AtomicU32::new(0)).collect();
            for _ in 0..100 {
                for_each_part(parts, &|i| {
                    hits[i].fetch_add(1, Ordering::Relaxed);
                });
            }
            assert!(hits.iter().all(|h| h.load(Ordering::Relaxed) == 100));
        }
        set_num_threads(2);
    }

    #[test]
    fn nested_jobs_run_serially() {
        set_num_threads(2);
        let total = AtomicU32::new(0);
        for_each_part(2, &|_| {
            for_each_part(3, &|_| {
                total.fetch_add(1, Ordering::Relaxed);
            });
        });
        assert_eq!(total.load(Ordering::Relaxed), 6);
    }

    #[test]
    fn jobs_after_the_workers_sleep_still_run() {
        set_num_threads(2);
        let total = AtomicU32::new(0);
        for _ in 0..3 {
            std::thread::sleep(SPIN_BEFORE_SLEEP * 5);
            for_each_part(4, &|_| {
                total.fetch_add(1, Ordering::Relaxed);
            });
        }
        assert_eq!(total.load(Ordering::Relaxed), 12);
    }

    #[test]
    fn pieces_line_up_and_cover_everything() {
        set_num_threads(2);
        let len = 3 * PARALLEL_MIN_ELEMENTS + 5;
        let mut value: Vec<f32> = (0..len).map(|i| i as f32).collect();
        let grad = value.clone();
        let mut buffers = vec![vec![0.0; len], vec![1.0; len]];
        zip_pieces(&mut value, &grad, &mut buffers, &|v, g, b| {
            assert_eq!(b.len(), 2);
            for (i, (v, &g)) in v.iter_mut().zip(g).enumerate() {
                assert_eq!(*v, g);
                *v += 1.0;
                b[0][i] = g;
                b[1][i] += g;
            }
        });
        for i in 0..len {
            assert_eq!(value[i], i as f32 + 1.0);
            assert_eq!(buffers[0][i], i as f32);
            assert_eq!(buffers[1][i], i as f32 + 1.0);
        }
    }

    #[test]
    fn chunks_cover_the_slice_once_with_aligned_starts() {
        set_num_threads(2);
        for len in [0, 1, 15, 16, 17, 1000, 4099] {
            let mut data = vec![0u32; len];
            chunks_mut(&mut data, 8, 16, &|offset, chunk| {
                assert_eq!(offset % 16, 0);
                chunk.iter_mut().for_each(|v| *v += 1);
            });
            assert!(data.iter().all(|&v| v == 1), "len {len}");
        }
    }
}
